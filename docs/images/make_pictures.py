"""Draws README's pictures, plot_model.png and plot_history.png, from a small network trained on the bundled
banknote data set: python docs/images/make_pictures.py (from the repository's root)."""
import os

from densenn import Input, Sequential, layers, utils
from densenn.datasets import banknote

HERE = os.path.dirname(os.path.abspath(__file__))

utils.set_random_seed(1)
(x_train, y_train), (x_test, y_test) = banknote.load_data()
mean, std = x_train.mean(axis=0), x_train.std(axis=0)
x_train, x_test = (x_train - mean) / std, (x_test - mean) / std

model = Sequential([
    Input(shape=(4,)),
    layers.Dense(16, activation="relu", name="hidden"),
    layers.Dropout(0.2, name="dropout"),
    layers.Dense(1, activation="sigmoid", name="forged"),
])
model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
history = model.fit(x_train, y_train, epochs=40, batch_size=32, validation_data=(x_test, y_test), verbose=0)

utils.plot_model(model, os.path.join(HERE, "plot_model.png"), show_shapes=True, show_layer_names=True,
                 show_layer_activations=True, dpi=96)
utils.plot_history(history).savefig(os.path.join(HERE, "plot_history.png"), dpi=96)
