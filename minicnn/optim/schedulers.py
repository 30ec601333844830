"""Learning-rate schedules: change `optimizer.lr` as training goes on.

Call `scheduler.step()` once after each `optimizer.step()` (or once per epoch: the schedule
counts whatever you count). After k calls the learning rate is:

    LinearWarmup       base_lr * (k + 1) / warmup_steps   while k < warmup_steps, then base_lr
    StepLR             base_lr * gamma ** (k // step_size)
    CosineAnnealingLR  eta_min + (base_lr - eta_min) * (1 + cos(pi * k / T_max)) / 2

StepLR and CosineAnnealingLR also take `warmup_steps`: the linear ramp first, then their
schedule starts (with its own k counted from the end of the warm-up). A warm-up keeps the
first, large and badly-aimed gradient steps of a fresh network small.
base_lr is the optimizer's lr when the scheduler is created.
"""
import math


class LinearWarmup:
    """A linear ramp up to base_lr over `warmup_steps` steps, then constant."""

    def __init__(self, optimizer, warmup_steps=0):
        if not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise ValueError(f"warmup_steps must be an int >= 0, got {warmup_steps!r}")
        self.optimizer = optimizer
        self.warmup_steps = warmup_steps
        self.base_lr = optimizer.lr
        self.last_step = 0                   # how many times step() has been called
        optimizer.lr = self.get_lr()

    def get_lr(self):
        """The learning rate for the current step count."""
        k = self.last_step
        if k < self.warmup_steps:
            return self.base_lr * (k + 1) / self.warmup_steps
        return self.schedule(k - self.warmup_steps)

    def schedule(self, k):
        """The learning rate k steps after the warm-up (constant here; subclasses decay it)."""
        return self.base_lr

    def step(self):
        self.last_step += 1
        self.optimizer.lr = self.get_lr()
        return self.optimizer.lr

    def state_dict(self):
        return {"last_step": self.last_step, "base_lr": self.base_lr}

    def load_state_dict(self, state):
        self.last_step, self.base_lr = int(state["last_step"]), float(state["base_lr"])
        self.optimizer.lr = self.get_lr()


class StepLR(LinearWarmup):
    """Multiply the learning rate by gamma every step_size steps."""

    def __init__(self, optimizer, step_size, gamma=0.1, warmup_steps=0):
        if not isinstance(step_size, int) or step_size < 1:
            raise ValueError(f"step_size must be a positive int, got {step_size!r}")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, warmup_steps)

    def schedule(self, k):
        return self.base_lr * self.gamma ** (k // self.step_size)


class CosineAnnealingLR(LinearWarmup):
    """Half a cosine from base_lr down to eta_min over T_max steps (then back up, like
    PyTorch's closed form, if stepped past T_max)."""

    def __init__(self, optimizer, T_max, eta_min=0.0, warmup_steps=0):
        if not isinstance(T_max, int) or T_max < 1:
            raise ValueError(f"T_max must be a positive int (steps), got {T_max!r}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, warmup_steps)

    def schedule(self, k):
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * k /
                                                                             self.T_max)) / 2
