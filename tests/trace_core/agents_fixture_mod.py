"""Classes with a trainable method, defined in a file so their source is readable."""

from trace_core import Module, bundle


class Agent(Module):
    @bundle(trainable=True)
    def act(self, x):
        return x + 1


class Pair(Module):
    def __init__(self):
        self.a, self.b = Agent(), Agent()
