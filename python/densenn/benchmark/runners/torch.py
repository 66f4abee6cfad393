"""PyTorch: a plain eager loop (torch.nn.Sequential, logits + CrossEntropyLoss / BCEWithLogitsLoss,
torch.optim.SGD/Adam)."""
import math

from .base import Runner


class TorchRunner(Runner):
    def __init__(self, name):
        super().__init__(name)
        import torch
        self.torch = torch
        acts = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid}
        mods = []
        for i, (n_in, n_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            linear = torch.nn.Linear(n_in, n_out)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(self.weights[2 * i].T))  # torch stores (out, in)
                linear.bias.copy_(torch.from_numpy(self.weights[2 * i + 1]))
            mods.append(linear)
            if i < len(self.hidden):
                mods.append(acts[self.hidden[i]]())
        self.model = torch.nn.Sequential(*mods)  # outputs logits; the loss applies softmax/sigmoid
        self.binary = self.sizes[-1] == 1
        self.loss_fn = torch.nn.BCEWithLogitsLoss() if self.binary else torch.nn.CrossEntropyLoss()
        if self.opt == "sgd":
            self.optim = torch.optim.SGD(self.model.parameters(), lr=self.opt_kwargs.get("learning_rate", 0.01))
        else:
            self.optim = torch.optim.Adam(self.model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
            self.step = 0

    def prepare(self, x, y):
        t = self.torch.from_numpy(y) if self.binary else self.torch.from_numpy(y.argmax(1))
        return self.torch.from_numpy(x), t

    def epoch(self, data, shuffle=True):
        x, t = data
        n, b = len(x), self.batch
        order = self.torch.randperm(n) if shuffle else self.torch.arange(n)
        for start in range(0, n, b):
            idx = order[start:start + b]
            self.optim.zero_grad(set_to_none=True)
            self.loss_fn(self.model(x[idx]), t[idx]).backward()
            if self.opt == "adam":  # Keras adds eps to sqrt(v), torch to sqrt(v_hat): rescale to match
                self.step += 1
                self.optim.param_groups[0]["eps"] = 1e-7 / math.sqrt(1 - 0.999 ** self.step)
            self.optim.step()

    def predict_calls(self):
        torch, model = self.torch, self.model
        out = torch.sigmoid if self.binary else (lambda z: torch.softmax(z, 1))

        def call(x):
            with torch.inference_mode():
                return out(model(torch.from_numpy(x))).numpy()
        return {"model(x) + softmax": call}

    @staticmethod
    def versions():
        import torch
        return {"PyTorch": f"{torch.__version__} ({torch.backends.cpu.get_cpu_capability()})"}
