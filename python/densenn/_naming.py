"""Keras' names: the snake case of a class name (keras.src.utils.naming.to_snake_case), which gives default layer
and metric names and the group names of Keras weights files."""
import re


def to_snake_case(name):
    """ReLU -> re_lu, LeakyReLU -> leaky_re_lu, BatchNormalization -> batch_normalization, AUC -> auc."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
