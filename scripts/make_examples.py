#!/usr/bin/env python3
"""Builds the example models committed under examples/ (run via scripts/make_examples.sh).

examples/mlp: a 64 -> 32 -> ReLU -> 16 -> ReLU -> 10 MLP classifying scikit-learn's bundled
8x8 digits, trained with plain numpy (mini-batch Adam, fixed seeds) and exported as ONNX
(opset 13, IR version 8) with Gemm (transB=1, weights [out, in]) + Relu nodes; the model outputs
logits (the softmax exists only in the training loss).

Everything is deterministic: rerunning produces byte-identical files on the same platform.
"""

import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(REPO, "examples", "mlp")

SPLIT_SEED = 0
INIT_SEED = 1
SHUFFLE_SEED = 2
LAYERS = [64, 32, 16, 10]
EPOCHS = 200
BATCH = 32
LR = 1e-3
WEIGHT_DECAY = 1e-4  # decoupled (AdamW-style), keeps the weights moderate
LABEL_SMOOTHING = 0.1  # bounds the logit margins, keeping the activations small
N_CALIBRATION = 20

# The prover's fixed-point format (for the activation headroom report and the simulation below).
FRAC_BITS = 8
ACT_LIMIT = 128.0


def load_data():
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)  # pixels 0..16 -> 0..1 (exact in float32)
    y = digits.target.astype(np.int64)
    return train_test_split(x, y, test_size=0.2, random_state=SPLIT_SEED, stratify=y)


def init_params(rng):
    params = []
    for fan_in, fan_out in zip(LAYERS[:-1], LAYERS[1:]):
        # He-uniform init, weights stored [out, in] like PyTorch's nn.Linear.
        bound = np.sqrt(6.0 / fan_in)
        w = rng.uniform(-bound, bound, size=(fan_out, fan_in))
        b = np.zeros(fan_out)
        params += [w, b]
    return params


def forward(params, x):
    """Returns the output of every Gemm (pre-activation); the last one is the logits."""
    outs = []
    h = x
    n_layers = len(params) // 2
    for i in range(n_layers):
        w, b = params[2 * i], params[2 * i + 1]
        z = h @ w.T + b
        outs.append(z)
        h = np.maximum(z, 0) if i + 1 < n_layers else z
    return outs


def loss_and_grads(params, x, y):
    outs = forward(params, x)
    logits = outs[-1]
    shifted = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(shifted)
    p /= p.sum(axis=1, keepdims=True)
    n = x.shape[0]
    target = np.full_like(p, LABEL_SMOOTHING / p.shape[1])
    target[np.arange(n), y] += 1.0 - LABEL_SMOOTHING
    loss = -(target * np.log(p + 1e-12)).sum(axis=1).mean()

    grads = [None] * len(params)
    dz = (p - target) / n
    n_layers = len(params) // 2
    for i in reversed(range(n_layers)):
        h_in = x if i == 0 else np.maximum(outs[i - 1], 0)
        grads[2 * i] = dz.T @ h_in
        grads[2 * i + 1] = dz.sum(axis=0)
        if i > 0:
            dz = (dz @ params[2 * i]) * (outs[i - 1] > 0)
    return loss, grads


def train(x, y):
    params = init_params(np.random.default_rng(INIT_SEED))
    shuffle_rng = np.random.default_rng(SHUFFLE_SEED)
    x = x.astype(np.float64)
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    t = 0
    loss = float("nan")
    for _ in range(EPOCHS):
        order = shuffle_rng.permutation(len(x))
        for start in range(0, len(x), BATCH):
            idx = order[start:start + BATCH]
            loss, grads = loss_and_grads(params, x[idx], y[idx])
            t += 1
            for k, g in enumerate(grads):
                m[k] = beta1 * m[k] + (1 - beta1) * g
                v[k] = beta2 * v[k] + (1 - beta2) * g * g
                m_hat = m[k] / (1 - beta1 ** t)
                v_hat = v[k] / (1 - beta2 ** t)
                params[k] = params[k] * (1 - LR * WEIGHT_DECAY) - LR * m_hat / (np.sqrt(v_hat) + eps)
    return [p.astype(np.float32) for p in params], loss


def accuracy(logits, y):
    return float((logits.argmax(axis=1) == y).mean())


def quantized_logits(params, x):
    """Rough simulation of the prover's fixed point: weights, biases, inputs and every layer's
    output rounded to FRAC_BITS fractional bits (informational only)."""
    s = float(1 << FRAC_BITS)
    q = lambda a: np.round(a.astype(np.float64) * s) / s
    h = q(x)
    n_layers = len(params) // 2
    for i in range(n_layers):
        z = q(h @ q(params[2 * i]).T + q(params[2 * i + 1]))
        h = np.maximum(z, 0) if i + 1 < n_layers else z
    return h


def export_onnx(params, path):
    nodes, inits = [], []
    n_layers = len(params) // 2
    cur = "input"
    for i in range(n_layers):
        w, b = params[2 * i], params[2 * i + 1]
        wn, bn = f"fc{i + 1}.weight", f"fc{i + 1}.bias"
        inits += [numpy_helper.from_array(w, wn), numpy_helper.from_array(b, bn)]
        last = i + 1 == n_layers
        out = "logits" if last else f"fc{i + 1}"
        nodes.append(helper.make_node("Gemm", [cur, wn, bn], [out], name=f"fc{i + 1}", transB=1))
        cur = out
        if not last:
            nodes.append(helper.make_node("Relu", [out], [f"relu{i + 1}"], name=f"relu{i + 1}"))
            cur = f"relu{i + 1}"
    graph = helper.make_graph(
        nodes,
        "digits_mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, LAYERS[0]])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, LAYERS[-1]])],
        initializer=inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 13)],
        ir_version=8,
        producer_name="zkml/scripts/make_examples.py",
        doc_string="8x8 digits MLP 64-32-16-10 (Gemm+Relu), outputs logits",
    )
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)
    onnx.checker.check_model(path, full_check=True)


def floats(a):
    return [float(v) for v in np.asarray(a, dtype=np.float32).ravel()]


def write_json(path, obj, indent=None):
    with open(path, "w") as f:
        json.dump(obj, f, indent=indent)
        f.write("\n")


def check_onnxruntime(path, x_test, ref_logits):
    try:
        import onnxruntime as ort
    except ImportError:
        return "onnxruntime not installed, runtime cross-check skipped"
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    got = np.concatenate([sess.run(["logits"], {"input": x_test[i:i + 1]})[0] for i in range(len(x_test))])
    diff = float(np.abs(got - ref_logits).max())
    if not diff < 1e-4:
        sys.exit(f"make_examples.py: onnxruntime {ort.__version__} disagrees with numpy: max |diff| = {diff:.3g}")
    return f"onnxruntime {ort.__version__} matches numpy on all {len(x_test)} test samples (max |diff| {diff:.2e})"


def main():
    x_train, x_test, y_train, y_test = load_data()
    params, final_loss = train(x_train, y_train)

    # float32 reference forward pass (what the ONNX model computes)
    outs = forward(params, x_test)
    logits = outs[-1]
    test_acc = accuracy(logits, y_test)
    train_acc = accuracy(forward(params, x_train)[-1], y_train)
    q_acc = accuracy(quantized_logits(params, x_test), y_test)
    max_act = [float(np.abs(z).max()) for z in outs]
    max_w = max(float(np.abs(p).max()) for p in params[0::2])
    max_b = max(float(np.abs(p).max()) for p in params[1::2])
    if max(max_act) >= ACT_LIMIT / 4:
        sys.exit(f"make_examples.py: activations too large for the prover: {max_act}")

    os.makedirs(OUT_DIR, exist_ok=True)
    model_path = os.path.join(OUT_DIR, "model.onnx")
    export_onnx(params, model_path)
    ort_msg = check_onnxruntime(model_path, x_test, logits)

    sample = x_test[0:1]
    sample_logits = forward(params, sample)[-1][0]
    write_json(os.path.join(OUT_DIR, "input.json"), {"input_data": [floats(sample)]})
    write_json(
        os.path.join(OUT_DIR, "expected.json"),
        {"label": int(y_test[0]), "logits": floats(sample_logits)},
        indent=2,
    )
    write_json(
        os.path.join(OUT_DIR, "calibration.json"),
        {"input_data": [floats(x_test[i]) for i in range(N_CALIBRATION)]},
    )

    act_str = ", ".join(f"fc{i + 1} {a:.2f}" for i, a in enumerate(max_act))
    readme = f"""# examples/mlp: digits MLP

A small multilayer perceptron classifying scikit-learn's bundled 8x8 handwritten digits
(`sklearn.datasets.load_digits`, pixels scaled from 0..16 to 0..1):
`input [1, 64] -> Gemm 32 -> Relu -> Gemm 16 -> Relu -> Gemm 10 -> logits [1, 10]`
(ONNX opset 13, IR version 8; Gemm with transB=1, weights stored [out, in]; no softmax in the model).

Made by `scripts/make_examples.sh` (pinned Python env from `scripts/examples-requirements.txt`,
runs `scripts/make_examples.py`): plain numpy, mini-batch Adam (label smoothing {LABEL_SMOOTHING}), {EPOCHS} epochs, fixed seeds,
80/20 stratified train/test split. Float model accuracy: test {test_acc:.2%} ({len(y_test)} images),
train {train_acc:.2%}. Max |Gemm output| over the test set: {act_str}.

Files:
- `model.onnx`: the model.
- `input.json`: the first test image, `{{"input_data": [[64 floats]]}}` (one flat list per model input).
- `expected.json`: its true `label` and the float `logits` of a numpy forward pass
  (argmax {int(sample_logits.argmax())}).
- `calibration.json`: the first {N_CALIBRATION} test images, `{{"input_data": [[64 floats], [64 floats], ...]}}`
  (one flat list per sample, all for the single input `input`; note the different meaning of the
  outer list compared to `input.json`).
"""
    with open(os.path.join(OUT_DIR, "README.md"), "w") as f:
        f.write(readme)

    print(f"examples/mlp: test accuracy {test_acc:.2%} (train {train_acc:.2%}, final batch loss {final_loss:.4f})")
    print(f"  simulated {FRAC_BITS}-fractional-bit fixed point test accuracy: {q_acc:.2%}")
    print(f"  max |activation| over test set: {act_str} (limit {ACT_LIMIT:.0f})")
    print(f"  max |weight| {max_w:.3f}, max |bias| {max_b:.3f}")
    print(f"  model.onnx {os.path.getsize(model_path)} bytes, onnx.checker OK; {ort_msg}")
    print(f"  sample 0: label {int(y_test[0])}, predicted {int(sample_logits.argmax())}")


if __name__ == "__main__":
    main()
