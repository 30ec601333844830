"""Check cells of the notebook assignments: run one exercise of a notebook on fixed inputs and
name the likely mistake.

`minicnn assignment make` copies this file (and diagnose.py) next to the student notebooks, with
nbcheck.npz: each check's inputs, the expected outputs and the arrays of its typical mistakes,
computed by the instructor's answers (notebooks.py). A check cell reads

    from nbcheck import check
    check("t01_relu", globals())

Each entry of RUNS calls the student's code, found by name in the notebook's namespace, on the
stored inputs and returns its outputs; it holds no answer.
"""
from pathlib import Path

import numpy as np

try:                                      # in the instructor's minicnn
    from minicnn.assignment import diagnose
except ImportError:                       # next to the student notebooks
    import diagnose

DATA = Path(__file__).with_name("nbcheck.npz")


def run_relu(ns, inputs):
    import minicnn as mc
    x = mc.tensor(inputs["x"], requires_grad=True)
    y = ns["my_relu"](x)
    y.backward(inputs["g"])
    return {"out": y.numpy(), "dx": x.grad}


def run_chain_rule(ns, inputs):
    return {"dL_du": np.float64(ns["dL_du"])}


def live_chain_rule(ns):
    """This exercise's expected value is back-propagation's, from the notebook itself."""
    return {"dL_du": np.float64(ns["u"].grad)}


def run_output_size(ns, inputs):
    return {"sizes": np.array([ns["conv_output_size"](*map(int, row))
                               for row in inputs["configs"]], dtype=np.float64)}


def run_weight_grads(ns, inputs):
    KH, KW = (int(k) for k in inputs["kernel"])
    dw, db = ns["conv_weight_grads"](inputs["x"], inputs["g"], KH, KW)
    return {"dw": dw, "db": db}


def run_max_pool_backward(ns, inputs):
    return {"dx": ns["max_pool_backward"](inputs["x"], inputs["g"])}


def run_receptive_field(ns, inputs):
    stacks = [[("conv" if kind == 0 else "pool", int(k)) for kind, k in stack if k > 0]
              for stack in inputs["stacks"]]
    return {"fields": np.array([ns["stack_receptive_field"](s) for s in stacks],
                               dtype=np.float64)}


def run_training_step(ns, inputs):
    import minicnn as mc
    model = mc.nn.Conv2d(1, 1, 1)
    model.weight.data = inputs["weight"].astype(np.float64)          # float64 throughout
    model.bias.data = inputs["bias"].astype(np.float64)
    optimizer = mc.optim.SGD(model.parameters(), lr=float(inputs["lr"]))
    x, y = mc.tensor(inputs["x"]), mc.tensor(inputs["y"])
    losses = [ns["training_step"](model, optimizer, x, y) for _ in range(3)]
    return {"losses": np.array(losses, dtype=np.float64), "weight": model.weight.numpy()}


def run_iou_dice(ns, inputs):
    return {"iou_dice": np.array([ns["my_iou_and_dice"](p, t)
                                  for p, t in zip(inputs["pred"], inputs["truth"])])}


def run_pos_weight(ns, inputs):
    return {"ratio": np.float64(ns["foreground_weight"] / ns["background_weight"])}


def live_pos_weight(ns):
    return {"ratio": np.float64(1.0)}


# block name -> (run, {output: words}, expected taken from the notebook itself or None)
RUNS = {
    "t01_relu": (run_relu, {"out": "relu(x)", "dx": "dL/dx"}, None),
    "t01_chain_rule": (run_chain_rule, {"dL_du": "dL/du"}, live_chain_rule),
    "t02_output_size": (run_output_size, {"sizes": "the output sizes"}, None),
    "t02_weight_grads": (run_weight_grads, {"dw": "dw", "db": "db"}, None),
    "t03_max_pool_backward": (run_max_pool_backward, {"dx": "dL/dx"}, None),
    "t03_receptive_field": (run_receptive_field, {"fields": "the receptive fields"}, None),
    "t04_training_step": (run_training_step, {"losses": "the returned losses",
                                              "weight": "the weight after 3 steps"}, None),
    "t04_iou_dice": (run_iou_dice, {"iou_dice": "(IoU, Dice)"}, None),
    "t05_pos_weight": (run_pos_weight, {"ratio": "foreground / background weight"},
                       live_pos_weight),
}


def stored(name, data_path=DATA):
    """(inputs, expected, {output: {phrase: wrong array}}) of a check from nbcheck.npz."""
    inputs, expected, mistakes = {}, {}, {}
    with np.load(data_path, allow_pickle=False) as data:
        for key in data.files:
            block, kind, *rest = key.split("/", 3)
            if block != name:
                continue
            if kind == "in":
                inputs[rest[0]] = data[key]
            elif kind == "out":
                expected[rest[0]] = data[key]
            else:                           # "mistake/<output>/<phrase>"
                mistakes.setdefault(rest[0], {})[rest[1]] = data[key]
    return inputs, expected, mistakes


def check(name, ns, data_path=DATA):
    """Run exercise `name` with the notebook's namespace ns; print the verdict; return True
    when it is right."""
    run, words, live = RUNS[name]
    inputs, expected, mistakes = stored(name, data_path)
    try:
        got = run(ns, inputs)
        if live is not None:
            expected = live(ns)
    except NotImplementedError:
        print(f"{name}: not done yet (the cell above still raises NotImplementedError)")
        return False
    except KeyError as missing:            # a name the exercise defines is not there yet
        print(f"{name}: not done yet ({missing} is not defined: write and run the cell above)")
        return False
    except Exception as error:
        print(f"{name}: your code crashes with {type(error).__name__}: {error}")
        return False
    problems = [diagnose.diagnose(got.get(key), np.asarray(want, dtype=np.float64), words[key],
                                  candidates=mistakes.get(key))
                for key, want in expected.items() if not diagnose.close(
                    None if got.get(key) is None else np.asarray(got[key], dtype=np.float64),
                    np.asarray(want, dtype=np.float64))]
    if problems:
        print(f"{name}: not yet: " + "; ".join(problems))
        return False
    print(f"{name}: correct")
    return True
