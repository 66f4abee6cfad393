"""Deep Learning with Python, 3rd edition, chapter 7 (a deep dive on Keras): the built-in training loop with
callbacks: ``get_mnist_model()`` (a functional chain 784-512-dropout-10), fit/evaluate/predict, EarlyStopping
with ModelCheckpoint to ``.keras`` and ``load_model``, a custom callback recording per-batch losses and saving a
plot per epoch.

Source: github.com/fchollet/deep-learning-with-python-notebooks, chapter07_deep-dive-keras.ipynb, the cells
"the standard workflow: compile, fit, evaluate, predict", "using the callbacks argument in the fit method",
"creating a custom callback by subclassing the Callback class" and the fit that uses it.
Changed:
- imports: ``import keras`` / ``from keras import layers`` / ``from keras.datasets import mnist`` -> ``densenn``;
- data: densenn's bundled MNIST (8,000 train / 2,000 test): reshapes ``(60000, ...)`` / ``(10000, ...)`` ->
  ``(8000, ...)`` / ``(2000, ...)`` and the validation split ``[10000:]`` / ``[:10000]`` -> ``[2000:]`` /
  ``[:2000]``;
- trainings shortened: 3 epochs -> 1, the callbacks' 10 -> 2, the custom callback's 10 -> 1.
Left out: the custom ``RootMeanSquaredError`` metric (backend ops in Python) and the TensorBoard cells.
"""
import os

import pytest

SOURCE = '''
import densenn as keras
from densenn import layers
from densenn.datasets import mnist

def get_mnist_model():
    inputs = keras.Input(shape=(28 * 28,))
    features = layers.Dense(512, activation="relu")(inputs)
    features = layers.Dropout(0.5)(features)
    outputs = layers.Dense(10, activation="softmax")(features)
    model = keras.Model(inputs, outputs)
    return model

(images, labels), (test_images, test_labels) = mnist.load_data()
images = images.reshape((8000, 28 * 28)).astype("float32") / 255
test_images = test_images.reshape((2000, 28 * 28)).astype("float32") / 255
train_images, val_images = images[2000:], images[:2000]
train_labels, val_labels = labels[2000:], labels[:2000]

model = get_mnist_model()
model.compile(
    optimizer="adam",
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
)
model.fit(
    train_images,
    train_labels,
    epochs=1,
    validation_data=(val_images, val_labels),
)
test_metrics = model.evaluate(test_images, test_labels)
predictions = model.predict(test_images)
# %% checkpoint
callbacks_list = [
    keras.callbacks.EarlyStopping(
        monitor="accuracy",
        patience=1,
    ),
    keras.callbacks.ModelCheckpoint(
        filepath="checkpoint_path.keras",
        monitor="val_loss",
        save_best_only=True,
    ),
]
model = get_mnist_model()
model.compile(
    optimizer="adam",
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
)
model.fit(
    train_images,
    train_labels,
    epochs=2,
    callbacks=callbacks_list,
    validation_data=(val_images, val_labels),
)
model = keras.models.load_model("checkpoint_path.keras")
# %%
from matplotlib import pyplot as plt

class LossHistory(keras.callbacks.Callback):
    def on_train_begin(self, logs):
        self.per_batch_losses = []

    def on_batch_end(self, batch, logs):
        self.per_batch_losses.append(logs.get("loss"))

    def on_epoch_end(self, epoch, logs):
        plt.clf()
        plt.plot(
            range(len(self.per_batch_losses)),
            self.per_batch_losses,
            label="Training loss for each batch",
        )
        plt.xlabel(f"Batch (epoch {epoch})")
        plt.ylabel("Loss")
        plt.legend()
        plt.savefig(f"plot_at_epoch_{epoch}", dpi=300)
        self.per_batch_losses = []
# %% loss_history
model = get_mnist_model()
model.compile(
    optimizer="adam",
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
)
loss_history = LossHistory()
model.fit(
    train_images,
    train_labels,
    epochs=1,
    callbacks=[loss_history],
    validation_data=(val_images, val_labels),
)
'''


def check(nb, workdir):
    loss, accuracy = nb["test_metrics"]
    assert accuracy > 0.88 and nb["predictions"].shape == (2000, 10)
    restored = nb.cells["checkpoint"]["model"]
    assert restored.evaluate(nb["val_images"], nb["val_labels"], verbose=0)[1] > 0.88
    assert os.path.exists(os.path.join(workdir, "plot_at_epoch_0.png"))
    # 188 batches of 32 in the epoch; the list is emptied at the epoch's end after the plot
    assert nb["loss_history"].per_batch_losses == []


def test_keras(run):
    nb = run("keras")
    check(nb, nb.workdir)


def test_densenn(run):
    nb = run("densenn")
    check(nb, nb.workdir)


def test_densenn_matches_keras(run):
    d, k = run("densenn"), run("keras")
    assert d["test_metrics"][1] == pytest.approx(k["test_metrics"][1], abs=0.03)
    assert d["test_metrics"][0] == pytest.approx(k["test_metrics"][0], rel=0.4)
    assert d.cells["checkpoint"]["model"].count_params() == k.cells["checkpoint"]["model"].count_params()
