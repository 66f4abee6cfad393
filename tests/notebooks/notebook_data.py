"""Stand-ins for the data sets the ported notebooks download: nothing here touches the network.

Real data where it ships with an installed package (MNIST and banknote with densenn, iris with scikit-learn);
otherwise seeded synthetic data with the original's layout, dtypes and value ranges and a signal a network can
learn (so "it learns, it overfits, regularisation helps" still shows), at the sizes given per loader. The
loaders answer like their Keras / scikit-learn / CSV originals (``imdb.load_data(num_words=...)``,
``fetch_california_housing()``, a CSV file), so the notebook cells that read them stay as they are.
"""
import functools
import os
import tempfile
import types

import numpy as np

_DIR = None


def _folder():
    global _DIR
    if _DIR is None:
        _DIR = tempfile.mkdtemp(prefix="densenn-notebook-data-")
    return _DIR


# ----------------------------------------------------------------------------- word-index sequences


def _sequences(rng, labels, num_classes, num_words, length=(40, 160), topic_words=40, topic_share=0.12):
    """Word-index sequences as keras.datasets.imdb/reuters give them: lists of ints starting with 1 (start),
    indices in [2, num_words) (1 = start, 2 = out of vocabulary, 3.. words by frequency, Zipf-like); each class
    has its own topic words, a share `topic_share` of each sequence's words (the rest background noise)."""
    words = np.arange(4, num_words)
    background = 1.0 / (words - 2.0)  # frequent words first, as Keras' indices are ranked by frequency
    background /= background.sum()
    topics = np.stack([rng.choice(words[20:], size=topic_words, replace=False) for _ in range(num_classes)])
    lengths = rng.integers(*length, size=len(labels))
    is_topic = rng.random(lengths.sum()) < topic_share
    owner = np.repeat(np.asarray(labels), lengths)
    tokens = np.where(is_topic, topics[owner, rng.integers(0, topic_words, lengths.sum())],
                      rng.choice(words, size=lengths.sum(), p=background))
    out = np.empty(len(labels), dtype=object)
    for i, seq in enumerate(np.split(tokens, np.cumsum(lengths)[:-1])):
        out[i] = [1] + seq.tolist()
    return out


def _word_index(num_words):
    return {f"word{i - 3}": i - 3 for i in range(4, num_words)}


class imdb:  # noqa: N801 (a module's name in the notebooks)
    """keras.datasets.imdb's layout (object arrays of int lists, int64 labels 0/1) with 2,500 train and 2,500
    test reviews: a tenth of IMDB's 25,000/25,000; ports scale num_words 10,000 -> 1,000 to match."""

    n_train = n_test = 2500

    @staticmethod
    def load_data(num_words=None, seed=113, **kwargs):
        num_words = num_words or 1000
        rng = np.random.default_rng(seed)
        labels = rng.integers(0, 2, imdb.n_train + imdb.n_test)
        data = _sequences(rng, labels, 2, num_words, topic_share=0.15)
        flip = rng.random(len(labels)) < 0.06  # some reviews say the opposite of their score
        labels = np.where(flip, 1 - labels, labels).astype(np.int64)
        n = imdb.n_train
        return (data[:n], labels[:n]), (data[n:], labels[n:])

    @staticmethod
    def get_word_index(path="imdb_word_index.json"):
        return _word_index(1000)


class reuters:  # noqa: N801
    """keras.datasets.reuters' layout (46 topics, int64 labels, unbalanced as Reuters is) with 2,000 train and
    500 test newswires (Reuters: 8,982/2,246); ports scale num_words 10,000 -> 1,000."""

    n_train, n_test, num_classes = 2000, 500, 46

    @staticmethod
    def load_data(num_words=None, seed=113, **kwargs):
        num_words = num_words or 1000
        rng = np.random.default_rng(seed)
        weights = 1.0 / np.arange(1, reuters.num_classes + 1) ** 1.1  # a few big topics, many small ones
        labels = rng.choice(reuters.num_classes, size=reuters.n_train + reuters.n_test, p=weights / weights.sum())
        data = _sequences(rng, labels, reuters.num_classes, num_words, topic_words=25, topic_share=0.45)
        labels = labels.astype(np.int64)
        n = reuters.n_train
        return (data[:n], labels[:n]), (data[n:], labels[n:])

    @staticmethod
    def get_word_index(path="reuters_word_index.json"):
        return _word_index(1000)


# ----------------------------------------------------------------------------- regression tables


class boston_housing:  # noqa: N801
    """keras.datasets.boston_housing's layout: float64 (404, 13) / (102, 13), prices in $1,000s (5 to 50),
    13 columns on Boston's very different scales (crime rate, zoning %, ..., tax, % lower status)."""

    @staticmethod
    def load_data(path="boston_housing.npz", test_split=0.2, seed=113):
        rng = np.random.default_rng(seed)
        n = 506
        low = np.array([0.0, 0, 0.5, 0, 0.39, 3.6, 3, 1.1, 1, 187, 12.6, 0.3, 1.7])
        high = np.array([89.0, 100, 27.7, 1, 0.87, 8.8, 100, 12.1, 24, 711, 22, 397, 38])
        u = rng.random((n, 13))
        u[:, 0] = u[:, 0] ** 6  # crime: mostly small
        u[:, 3] = (u[:, 3] < 0.07).astype(float)  # river dummy
        x = low + u * (high - low)
        rooms, lstat, crime, ptratio = u[:, 5], u[:, 12], u[:, 0], u[:, 10]
        price = 22 + 18 * (rooms - 0.5) - 14 * np.sqrt(lstat) + 6 * (0.5 - ptratio) - 8 * crime \
            + 10 * rooms * (1 - lstat) + rng.normal(0, 2.5, n)
        y = np.clip(price, 5, 50)
        n_train = int(n * (1 - test_split))
        return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])


def _california(rng, n):
    """California housing's 8 columns as scikit-learn orders them (MedInc, HouseAge, AveRooms, AveBedrms,
    Population, AveOccup, Latitude, Longitude) and a median value in $100,000s (0.15 to 5.0)."""
    income = rng.gamma(4.0, 1.0, n).clip(0.5, 15)
    age = rng.integers(1, 53, n).astype(float)
    rooms = (3 + income * 0.4 + rng.normal(0, 0.8, n)).clip(1, 12)
    bedrooms = (rooms * 0.2 + rng.normal(0, 0.05, n)).clip(0.3, 3)
    population = rng.lognormal(7, 0.7, n).round()
    occupancy = (2.2 + rng.gamma(2, 0.4, n)).clip(0.7, 10)
    latitude = rng.uniform(32.5, 42, n)
    longitude = -124.3 + (42 - latitude) * 0.9 + rng.normal(0, 0.8, n)
    coast = np.exp(-np.abs(longitude + 122 - (42 - latitude) * 0.75))
    value = 0.4 + 0.42 * income + 1.1 * coast + 0.006 * age - 0.06 * occupancy + rng.normal(0, 0.35, n)
    x = np.column_stack([income, age, rooms, bedrooms, population, occupancy, latitude, longitude])
    return x, value.clip(0.15, 5.0)


class california_housing:  # noqa: N801
    """keras.datasets.california_housing (Keras 3.3+): version="small" is 600 districts, 480 train / 120 test,
    float32 (n, 8) in Keras' column order (longitude, latitude, median age, total rooms, total bedrooms,
    population, households, median income) and the median value in dollars."""

    @staticmethod
    def load_data(version="large", path="california_housing.npz", test_split=0.2, seed=113):
        n = 600 if version == "small" else 2000
        x, value = _california(np.random.default_rng(seed), n)
        income, age, rooms, bedrooms, population, occupancy, lat, lon = x.T
        households = (population / occupancy).round()
        x = np.column_stack([lon, lat, age, (rooms * households).round(), (bedrooms * households).round(),
                             population, households, income]).astype(np.float32)
        y = (value * 100000).astype(np.float32)
        n_train = int(n * (1 - test_split))
        return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])


def fetch_california_housing(**kwargs):
    """scikit-learn's fetch_california_housing() layout (a Bunch: data float64 (n, 8), target in $100,000s,
    feature_names) with 2,000 districts instead of 20,640."""
    x, y = _california(np.random.default_rng(42), 2000)
    return types.SimpleNamespace(
        data=x, target=y,
        feature_names=["MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup", "Latitude",
                       "Longitude"])


# ----------------------------------------------------------------------------- images


class fashion_mnist:  # noqa: N801
    """Fashion-MNIST's layout (uint8 (n, 28, 28) images, labels 0..9) from densenn's bundled MNIST digits
    (8,000 train / 2,000 test): same shape, dtype and number of classes."""

    @staticmethod
    def load_data():
        import densenn
        return densenn.datasets.mnist.load_data()


# ----------------------------------------------------------------------------- CSV files


@functools.lru_cache(maxsize=None)
def banknote_csv():
    """The UCI banknote file as Jason Brownlee's tutorials read it (no header row; 1,372 rows of 4 features and
    the class), written from the copy bundled with densenn."""
    from importlib import resources
    import densenn.datasets
    with resources.files(densenn.datasets).joinpath("data", "data_banknote_authentication.csv").open() as f:
        lines = f.read().splitlines()[1:]
    path = os.path.join(_folder(), "banknote_authentication.csv")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


@functools.lru_cache(maxsize=None)
def pima_indians_diabetes_csv():
    """pima-indians-diabetes.csv's layout: 768 rows, no header, 8 numeric columns on the original's ranges
    (pregnancies, glucose, blood pressure, skin fold, insulin, BMI, pedigree, age) and the class (35% ones);
    synthetic, about as predictable as the original (~75-80% accuracy)."""
    rng = np.random.default_rng(7)
    n = 768
    pregnancies = rng.poisson(3.8, n).clip(0, 17)
    glucose = rng.normal(121, 31, n).clip(44, 199).round()
    pressure = rng.normal(72, 12, n).clip(24, 122).round()
    skin = rng.normal(29, 10, n).clip(7, 99).round()
    insulin = np.where(rng.random(n) < 0.5, 0, rng.gamma(2, 75, n).clip(14, 846)).round()
    bmi = rng.normal(32, 7, n).clip(18, 67).round(1)
    pedigree = rng.gamma(2, 0.24, n).clip(0.078, 2.42).round(3)
    age = (21 + rng.gamma(1.6, 7.5, n)).clip(21, 81).round()
    z = 0.035 * (glucose - 121) + 0.09 * (bmi - 32) + 0.03 * (age - 33) + 0.12 * (pregnancies - 3.8) \
        + 0.9 * (pedigree - 0.47) - 0.75 + rng.logistic(0, 0.7, n)
    label = (z > 0).astype(int)
    table = np.column_stack([pregnancies, glucose, pressure, skin, insulin, bmi, pedigree, age, label])
    path = os.path.join(_folder(), "pima-indians-diabetes.csv")
    fmt = ["%d", "%d", "%d", "%d", "%d", "%.1f", "%.3f", "%d", "%d"]
    np.savetxt(path, table, delimiter=",", fmt=fmt)
    return path


@functools.lru_cache(maxsize=None)
def auto_mpg_csv():
    """Jeff Heaton's auto-mpg.csv layout: 398 cars, a header (mpg, cylinders, displacement, horsepower, weight,
    acceleration, year, origin, name), '?' for six missing horsepower values; synthetic cars whose mpg follows
    weight, horsepower and year as the real ones do."""
    import pandas as pd
    rng = np.random.default_rng(11)
    n = 398
    cylinders = rng.choice([3, 4, 5, 6, 8], size=n, p=[0.01, 0.51, 0.01, 0.21, 0.26])
    displacement = (cylinders * rng.normal(40, 6, n)).clip(68, 455).round()
    horsepower = (displacement * 0.33 + rng.normal(25, 10, n)).clip(46, 230).round()
    weight = (1500 + displacement * 6 + rng.normal(0, 250, n)).clip(1613, 5140).round()
    acceleration = (20 - horsepower / 25 + rng.normal(0, 1.5, n)).clip(8, 24.8).round(1)
    year = rng.integers(70, 83, n)
    origin = np.where(cylinders > 5, 1, rng.choice([1, 2, 3], size=n))
    mpg = (46 - weight / 160 - horsepower / 40 + (year - 70) * 0.75 + rng.normal(0, 2.5, n)).clip(9, 46.6).round(1)
    df = pd.DataFrame({"mpg": mpg, "cylinders": cylinders, "displacement": displacement,
                       "horsepower": horsepower.astype(object), "weight": weight, "acceleration": acceleration,
                       "year": year, "origin": origin, "name": [f"car {i}" for i in range(n)]})
    df.loc[rng.choice(n, 6, replace=False), "horsepower"] = "?"
    path = os.path.join(_folder(), "auto-mpg.csv")
    df.to_csv(path, index=False)
    return path


@functools.lru_cache(maxsize=None)
def iris_csv():
    """Jeff Heaton's iris.csv layout (sepal_l, sepal_w, petal_l, petal_w, species as 'Iris-setosa' ...) with the
    real 150 flowers from scikit-learn's bundled copy."""
    import pandas as pd
    from sklearn.datasets import load_iris
    iris = load_iris()
    df = pd.DataFrame(iris.data, columns=["sepal_l", "sepal_w", "petal_l", "petal_w"])
    df["species"] = [f"Iris-{iris.target_names[t]}" for t in iris.target]
    path = os.path.join(_folder(), "iris.csv")
    df.to_csv(path, index=False)
    return path
