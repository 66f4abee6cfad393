"""The ``densenn`` command: ``densenn demo``, ``densenn bench``, ``densenn info``, ``densenn config``."""
import argparse
import sys


def demo(epochs=5):
    """Trains the classic MNIST network (784-100-50-10, sigmoid) on the bundled data, then times one epoch against NumPy."""
    from . import Input, Sequential, benchmark, build_info, layers, utils
    from .datasets import mnist

    info = build_info()
    print(f"densenn demo: C++ core built for {info['isa']} ({info['simd']}), {info['openmp_threads']} threads\n")
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    x_train = x_train.reshape(-1, 784).astype("float32") / 255
    x_test = x_test.reshape(-1, 784).astype("float32") / 255
    y_train, y_test = utils.to_categorical(y_train, 10), utils.to_categorical(y_test, 10)
    print(f"MNIST (bundled): {len(x_train)} training and {len(x_test)} held-out images\n")

    utils.set_random_seed(7)
    model = Sequential([
        Input(shape=(784,)),
        layers.Dense(100, activation="sigmoid"),
        layers.Dense(50, activation="sigmoid"),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.summary()

    model.fit(x_train, y_train, epochs=epochs, batch_size=32, validation_split=0.1)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"\nHeld-out accuracy: {accuracy:.4f} (loss {loss:.4f}) on {len(x_test)} images the model never saw")

    print("\nOne training epoch of the same network (same data, batch 32, Adam), C++ against NumPy:")
    cpp = benchmark.run_child("densenn", "train", benchmark.DEMO, epochs=3)
    ref = benchmark.best_numpy("train", benchmark.DEMO, epochs=3)
    rows = len(benchmark.workload_data(benchmark.DEMO)[0])
    print(f"  densenn (C++): {cpp['epoch_s'] * 1000:8.1f} ms/epoch  {cpp['samples_per_s']:>10,.0f} samples/s")
    print(f"  NumPy        : {ref['epoch_s'] * 1000:8.1f} ms/epoch  {ref['samples_per_s']:>10,.0f} samples/s"
          f"  (best of 1 and all BLAS threads: {ref['threads']})")
    print(f"  densenn is {ref['epoch_s'] / cpp['epoch_s']:.1f}x faster ({rows} samples per epoch; "
          f"median of 3 epochs after a warm-up, each side in its own process)")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="densenn", description="Dense neural networks with a fast C++ core.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("demo", help="train the classic 784-100-50-10 MNIST network on bundled data and compare with NumPy")
    p_demo.add_argument("--epochs", type=int, default=5)
    # Listed here for --help; the benchmark parses its own options (densenn bench --help lists them).
    sub.add_parser("bench", help="benchmark against NumPy, PyTorch, Keras, scikit-learn (those installed)")
    sub.add_parser("info", help="which build of the C++ core runs here")
    p_config = sub.add_parser("config", help="where the embedded runtime (headers, library, CMake package) is")
    where = p_config.add_mutually_exclusive_group(required=True)
    where.add_argument("--cmakedir", action="store_true", help="the folder of densennConfig.cmake")
    where.add_argument("--includedir", action="store_true", help="the include folder (densenn/c_api.h, ...)")
    where.add_argument("--libdir", action="store_true", help="the folder of libdensenn.so")
    where.add_argument("--library", action="store_true", help="the path of libdensenn.so")
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        from . import benchmark
        return benchmark.main(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "config":
        import os
        import densenn
        if args.cmakedir:
            print(densenn.get_cmake_dir())
        elif args.includedir:
            print(densenn.get_include())
        elif args.libdir:
            print(os.path.dirname(densenn.get_library()))
        else:
            print(densenn.get_library())
        return 0
    if args.command == "demo":
        if args.epochs < 1:
            parser.error("--epochs must be at least 1")
        return demo(args.epochs)
    from . import build_info
    for key, value in build_info().items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
