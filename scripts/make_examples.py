#!/usr/bin/env python3
"""Builds the example models committed under examples/ (run via scripts/make_examples.sh).

examples/mlp: a 64 -> 32 -> ReLU -> 16 -> ReLU -> 10 MLP classifying scikit-learn's bundled
8x8 digits, trained with plain numpy (mini-batch Adam, fixed seeds) and exported as ONNX
(opset 13, IR version 8) with Gemm (transB=1, weights [out, in]) + Relu nodes; the model outputs
logits (the softmax exists only in the training loss).

examples/cnn: a small convolutional network on the same data and the same train/test split,
[1, 1, 8, 8] -> Conv 6@3x3 (pads 1) -> Relu -> MaxPool 2x2/2 -> Conv 12@3x3 -> Relu -> Flatten (or
GlobalAveragePool + Flatten, see CNN_HEAD) -> Gemm 10, trained the same way (numpy im2col
convolutions, mini-batch Adam, label smoothing) and exported with Conv/Relu/MaxPool/Flatten/Gemm.

Both directories also get heldout.json: every test image, its label and the float model's
prediction (for checking the quantized model's accuracy against the float model's).

examples/matcher: the face-ID pattern on digits (no training): the committed MLP's first two
layers embed an image (64 -> 32 -> ReLU -> 16 -> ReLU), and the model outputs the mean squared
distance between that embedding and a second input, an enrolled template (16 values): one digit
class stands in for one person. Templates are the mean training embedding of each class.
`make_examples.py matcher` builds only this one, from examples/mlp/model.onnx as committed.

Everything is deterministic: rerunning produces byte-identical files on the same platform.
"""

import json
import os
import sys
import time

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

CNN_OUT_DIR = os.path.join(REPO, "examples", "cnn")
CNN_INIT_SEED = 3
CNN_SHUFFLE_SEED = 4
CNN_CHANNELS = [1, 6, 12]  # conv1: 1 -> 6 (3x3, pads 1), conv2: 6 -> 12 (3x3, no padding)
CNN_HEAD = "flatten"  # "flatten": Flatten [12, 2, 2] -> Gemm 48 -> 10; "gap": GlobalAveragePool -> Gemm 12 -> 10
CNN_EPOCHS = 200
CNN_LR = 2e-3
JSON_DECIMALS = 6  # rounding of the floats in the new JSON files (heldout.json, examples/cnn/*.json)

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


def smoothed_xent(logits, y):
    """Softmax cross-entropy against label-smoothed targets: (mean loss, d loss / d logits)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(shifted)
    p /= p.sum(axis=1, keepdims=True)
    n = logits.shape[0]
    target = np.full_like(p, LABEL_SMOOTHING / p.shape[1])
    target[np.arange(n), y] += 1.0 - LABEL_SMOOTHING
    loss = -(target * np.log(p + 1e-12)).sum(axis=1).mean()
    return loss, (p - target) / n


def loss_and_grads(params, x, y):
    outs = forward(params, x)
    loss, dz = smoothed_xent(outs[-1], y)

    grads = [None] * len(params)
    n_layers = len(params) // 2
    for i in reversed(range(n_layers)):
        h_in = x if i == 0 else np.maximum(outs[i - 1], 0)
        grads[2 * i] = dz.T @ h_in
        grads[2 * i + 1] = dz.sum(axis=0)
        if i > 0:
            dz = (dz @ params[2 * i]) * (outs[i - 1] > 0)
    return loss, grads


def adam_train(params, loss_and_grads_fn, x, y, epochs, lr, shuffle_seed):
    """Mini-batch AdamW (decoupled weight decay WEIGHT_DECAY); returns float32 params, last batch loss."""
    shuffle_rng = np.random.default_rng(shuffle_seed)
    x = x.astype(np.float64)
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    t = 0
    loss = float("nan")
    for _ in range(epochs):
        order = shuffle_rng.permutation(len(x))
        for start in range(0, len(x), BATCH):
            idx = order[start:start + BATCH]
            loss, grads = loss_and_grads_fn(params, x[idx], y[idx])
            t += 1
            for k, g in enumerate(grads):
                m[k] = beta1 * m[k] + (1 - beta1) * g
                v[k] = beta2 * v[k] + (1 - beta2) * g * g
                m_hat = m[k] / (1 - beta1 ** t)
                v_hat = v[k] / (1 - beta2 ** t)
                params[k] = params[k] * (1 - lr * WEIGHT_DECAY) - lr * m_hat / (np.sqrt(v_hat) + eps)
    return [p.astype(np.float32) for p in params], loss


def train(x, y):
    params = init_params(np.random.default_rng(INIT_SEED))
    return adam_train(params, loss_and_grads, x, y, EPOCHS, LR, SHUFFLE_SEED)


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


def save_model(graph, doc_string, path):
    """Writes `graph` as an ONNX model (opset 13, IR version 8), checked before and after saving."""
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 13)],
        ir_version=8,
        producer_name="zkml/scripts/make_examples.py",
        doc_string=doc_string,
    )
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)
    onnx.checker.check_model(path, full_check=True)


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
    save_model(graph, "8x8 digits MLP 64-32-16-10 (Gemm+Relu), outputs logits", path)


def floats(a):
    return [float(v) for v in np.asarray(a, dtype=np.float32).ravel()]


def rfloats(a):
    """Like floats(), rounded to JSON_DECIMALS decimals (the pixels k/16 are exact)."""
    return [round(v, JSON_DECIMALS) for v in floats(a)]


def write_json(path, obj, indent=None):
    with open(path, "w") as f:
        json.dump(obj, f, indent=indent)
        f.write("\n")


def check_onnxruntime(path, x_test, ref_logits):
    """Runs the model one sample at a time; returns (message, logits or None if not installed)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return "onnxruntime not installed, runtime cross-check skipped", None
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    got = np.concatenate([sess.run(["logits"], {"input": x_test[i:i + 1]})[0] for i in range(len(x_test))])
    diff = float(np.abs(got - ref_logits).max())
    if not diff < 1e-4:
        sys.exit(f"make_examples.py: onnxruntime {ort.__version__} disagrees with numpy: max |diff| = {diff:.3g}")
    msg = f"onnxruntime {ort.__version__} matches numpy on all {len(x_test)} test samples (max |diff| {diff:.2e})"
    return msg, got


def write_sample_files(out_dir, x_test, y_test, sample_logits, to_list):
    """input.json (the first test image), expected.json (its label and float logits) and
    calibration.json (the first N_CALIBRATION test images); `to_list` formats float arrays."""
    write_json(os.path.join(out_dir, "input.json"), {"input_data": [to_list(x_test[0])]})
    write_json(
        os.path.join(out_dir, "expected.json"),
        {"label": int(y_test[0]), "logits": to_list(sample_logits)},
        indent=2,
    )
    write_json(
        os.path.join(out_dir, "calibration.json"),
        {"input_data": [to_list(x_test[i]) for i in range(N_CALIBRATION)]},
    )


def write_heldout(out_dir, x_test, y_test, float_logits, ort_logits):
    """heldout.json: all test images, their labels and the float model's predicted classes."""
    pred = float_logits.argmax(axis=1)
    if ort_logits is not None and not np.array_equal(ort_logits.argmax(axis=1), pred):
        sys.exit(f"make_examples.py: {out_dir}: onnxruntime and numpy predict different classes")
    path = os.path.join(out_dir, "heldout.json")
    write_json(path, {
        "inputs": [rfloats(x) for x in x_test],
        "labels": [int(v) for v in y_test],
        "float_predictions": [int(v) for v in pred],
    })
    return path


def make_mlp(x_train, x_test, y_train, y_test):
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
    ort_msg, ort_logits = check_onnxruntime(model_path, x_test, logits)

    sample = x_test[0:1]
    sample_logits = forward(params, sample)[-1][0]
    write_sample_files(OUT_DIR, x_test, y_test, sample_logits, floats)

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
    # Written last and not listed in the README, which stays as it was before heldout.json existed.
    heldout = write_heldout(OUT_DIR, x_test, y_test, logits, ort_logits)
    print(f"  heldout.json: {len(y_test)} test images ({os.path.getsize(heldout)} bytes)")


# ---------------------------------------------------------------------------------------------
# examples/cnn
# ---------------------------------------------------------------------------------------------


def im2col(x, k, pad):
    """[n, c, h, w] -> [n, oh, ow, c*k*k] (stride 1); the last axis is ordered like the ONNX
    Conv weight [out, c, kh, kw] flattened."""
    n, c, h, w = x.shape
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = h + 2 * pad - k + 1, w + 2 * pad - k + 1
    cols = np.empty((n, c, k, k, oh, ow), dtype=x.dtype)
    for i in range(k):
        for j in range(k):
            cols[:, :, i, j] = x[:, :, i:i + oh, j:j + ow]
    return cols.transpose(0, 4, 5, 1, 2, 3).reshape(n, oh, ow, c * k * k)


def col2im(dcols, shape, k, pad):
    """Adjoint of im2col: accumulates [n, oh, ow, c*k*k] back into [n, c, h, w]."""
    n, c, h, w = shape
    oh, ow = h + 2 * pad - k + 1, w + 2 * pad - k + 1
    d = dcols.reshape(n, oh, ow, c, k, k).transpose(0, 3, 4, 5, 1, 2)
    dx = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=dcols.dtype)
    for i in range(k):
        for j in range(k):
            dx[:, :, i:i + oh, j:j + ow] += d[:, :, i, j]
    return dx[:, :, pad:pad + h, pad:pad + w]


def conv2d(x, w, b, pad):
    """Conv, stride 1, symmetric zero padding: returns (NCHW output, im2col columns)."""
    cols = im2col(x, w.shape[2], pad)
    out = cols @ w.reshape(w.shape[0], -1).T + b
    return out.transpose(0, 3, 1, 2), cols


def conv2d_backward(dout, cols, w):
    """Returns (d weight, d bias, d columns) for conv2d."""
    d = dout.transpose(0, 2, 3, 1)  # [n, oh, ow, out]
    d2 = d.reshape(-1, d.shape[-1])
    dw = (d2.T @ cols.reshape(-1, cols.shape[-1])).reshape(w.shape)
    return dw, d2.sum(axis=0), d @ w.reshape(w.shape[0], -1)


def maxpool2x2(x):
    """MaxPool 2x2 stride 2: returns (output, argmax within each window)."""
    n, c, h, w = x.shape
    win = x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // 2, w // 2, 4)
    arg = win.argmax(axis=-1)
    return np.take_along_axis(win, arg[..., None], axis=-1)[..., 0], arg


def maxpool2x2_backward(dout, arg, shape):
    n, c, h, w = shape
    dwin = np.zeros(dout.shape + (4,), dtype=dout.dtype)
    np.put_along_axis(dwin, arg[..., None], dout[..., None], axis=-1)
    return dwin.reshape(n, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(shape)


def cnn_features():
    return CNN_CHANNELS[2] if CNN_HEAD == "gap" else CNN_CHANNELS[2] * 4


def cnn_init_params(rng):
    """He-uniform init; params = [conv1.weight [6,1,3,3], conv1.bias, conv2.weight [12,6,3,3],
    conv2.bias, fc.weight [10, features], fc.bias]."""
    c0, c1, c2 = CNN_CHANNELS
    f = cnn_features()

    def he(shape, fan_in):
        bound = np.sqrt(6.0 / fan_in)
        return rng.uniform(-bound, bound, size=shape)

    return [he((c1, c0, 3, 3), c0 * 9), np.zeros(c1), he((c2, c1, 3, 3), c1 * 9), np.zeros(c2),
            he((10, f), f), np.zeros(10)]


def cnn_head(r2):
    """Relu'd conv2 output [n, 12, 2, 2] -> Gemm input [n, features]."""
    return r2.mean(axis=(2, 3)) if CNN_HEAD == "gap" else r2.reshape(len(r2), -1)


def cnn_forward(params, x):
    """x [n, 1, 8, 8]; returns (named layer outputs for the activation report, cache)."""
    w1, b1, w2, b2, w3, b3 = params
    z1, cols1 = conv2d(x, w1, b1, 1)
    p1, arg1 = maxpool2x2(np.maximum(z1, 0))
    z2, cols2 = conv2d(p1, w2, b2, 0)
    f = cnn_head(np.maximum(z2, 0))
    logits = f @ w3.T + b3
    acts = {"conv1": z1, "pool1": p1, "conv2": z2}
    if CNN_HEAD == "gap":
        acts["gap"] = f
    acts["fc"] = logits
    return acts, (cols1, arg1, cols2, z1, p1, z2, f)


def cnn_loss_and_grads(params, x, y):
    acts, (cols1, arg1, cols2, z1, p1, z2, f) = cnn_forward(params, x)
    loss, dlogits = smoothed_xent(acts["fc"], y)
    g_w3, g_b3 = dlogits.T @ f, dlogits.sum(axis=0)
    df = dlogits @ params[4]
    if CNN_HEAD == "gap":
        dr2 = np.broadcast_to(df[:, :, None, None] / (z2.shape[2] * z2.shape[3]), z2.shape)
    else:
        dr2 = df.reshape(z2.shape)
    g_w2, g_b2, dcols2 = conv2d_backward(dr2 * (z2 > 0), cols2, params[2])
    dr1 = maxpool2x2_backward(col2im(dcols2, p1.shape, 3, 0), arg1, z1.shape)
    g_w1, g_b1, _ = conv2d_backward(dr1 * (z1 > 0), cols1, params[0])
    return loss, [g_w1, g_b1, g_w2, g_b2, g_w3, g_b3]


def cnn_quantized_logits(params, x):
    """Rough simulation of the prover's fixed point, as quantized_logits (informational only)."""
    s = float(1 << FRAC_BITS)
    q = lambda a: np.round(np.asarray(a, dtype=np.float64) * s) / s
    w1, b1, w2, b2, w3, b3 = [q(p) for p in params]
    z1 = q(conv2d(q(x), w1, b1, 1)[0])
    p1 = maxpool2x2(np.maximum(z1, 0))[0]
    z2 = q(conv2d(p1, w2, b2, 0)[0])
    f = q(cnn_head(np.maximum(z2, 0)))
    return q(f @ w3.T + b3)


def cnn_export_onnx(params, path):
    w1, b1, w2, b2, w3, b3 = params
    names = ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc.weight", "fc.bias"]
    inits = [numpy_helper.from_array(p, n) for p, n in zip(params, names)]
    nodes = [
        helper.make_node("Conv", ["input", "conv1.weight", "conv1.bias"], ["conv1"], name="conv1",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("Relu", ["conv1"], ["relu1"], name="relu1"),
        helper.make_node("MaxPool", ["relu1"], ["pool1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["pool1", "conv2.weight", "conv2.bias"], ["conv2"], name="conv2",
                         kernel_shape=[3, 3], pads=[0, 0, 0, 0], strides=[1, 1]),
        helper.make_node("Relu", ["conv2"], ["relu2"], name="relu2"),
    ]
    if CNN_HEAD == "gap":
        nodes.append(helper.make_node("GlobalAveragePool", ["relu2"], ["gap"], name="gap"))
        nodes.append(helper.make_node("Flatten", ["gap"], ["flatten"], name="flatten", axis=1))
    else:
        nodes.append(helper.make_node("Flatten", ["relu2"], ["flatten"], name="flatten", axis=1))
    nodes.append(helper.make_node("Gemm", ["flatten", "fc.weight", "fc.bias"], ["logits"], name="fc", transB=1))
    graph = helper.make_graph(
        nodes,
        "digits_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
        initializer=inits,
    )
    head = "GlobalAveragePool-Flatten" if CNN_HEAD == "gap" else "Flatten"
    save_model(graph, f"8x8 digits CNN Conv6(3x3,pad1)-Relu-MaxPool2-Conv12(3x3)-Relu-{head}-Gemm10, outputs logits", path)


def make_cnn(x_train, x_test, y_train, y_test):
    x_train = x_train.reshape(-1, 1, 8, 8)
    x_test = x_test.reshape(-1, 1, 8, 8)  # NCHW; row-major, so the 64 pixels keep their order
    t0 = time.perf_counter()
    params = cnn_init_params(np.random.default_rng(CNN_INIT_SEED))
    params, final_loss = adam_train(params, cnn_loss_and_grads, x_train, y_train, CNN_EPOCHS, CNN_LR,
                                    CNN_SHUFFLE_SEED)
    train_secs = time.perf_counter() - t0

    acts = cnn_forward(params, x_test)[0]  # float32, what the ONNX model computes
    logits = acts["fc"]
    test_acc = accuracy(logits, y_test)
    train_acc = accuracy(cnn_forward(params, x_train)[0]["fc"], y_train)
    q_logits = cnn_quantized_logits(params, x_test)
    q_acc = accuracy(q_logits, y_test)
    q_agree = float((q_logits.argmax(axis=1) == logits.argmax(axis=1)).mean())
    max_act = {k: float(np.abs(a).max()) for k, a in acts.items()}
    max_w = max(float(np.abs(p).max()) for p in params[0::2])
    max_b = max(float(np.abs(p).max()) for p in params[1::2])
    if max(max_act.values()) >= ACT_LIMIT / 4:
        sys.exit(f"make_examples.py: CNN activations too large for the prover: {max_act}")

    os.makedirs(CNN_OUT_DIR, exist_ok=True)
    model_path = os.path.join(CNN_OUT_DIR, "model.onnx")
    cnn_export_onnx(params, model_path)
    ort_msg, ort_logits = check_onnxruntime(model_path, x_test, logits)

    sample_logits = logits[0]
    write_sample_files(CNN_OUT_DIR, x_test, y_test, sample_logits, rfloats)
    heldout = write_heldout(CNN_OUT_DIR, x_test, y_test, logits, ort_logits)

    act_str = ", ".join(f"{k} {a:.2f}" for k, a in max_act.items())
    if CNN_HEAD == "gap":
        arch = "GlobalAveragePool [1, 12, 1, 1] -> Flatten -> Gemm 12 -> 10"
    else:
        arch = "Flatten [1, 48] -> Gemm 48 -> 10"
    readme = f"""# examples/cnn: digits CNN

A small convolutional network classifying scikit-learn's bundled 8x8 handwritten digits
(`sklearn.datasets.load_digits`, pixels scaled from 0..16 to 0..1), on the same train/test split
as `examples/mlp`:
`input [1, 1, 8, 8] -> Conv 6@3x3 (pads 1) -> Relu -> MaxPool 2x2 stride 2 [1, 6, 4, 4]
-> Conv 12@3x3 (no padding) -> Relu [1, 12, 2, 2] -> {arch} -> logits [1, 10]`
(ONNX opset 13, IR version 8, NCHW; Conv with explicit kernel_shape/pads/strides and a bias;
Gemm with transB=1, weights stored [out, in]; no softmax in the model).

Made by `scripts/make_examples.sh` (pinned Python env from `scripts/examples-requirements.txt`,
runs `scripts/make_examples.py`): plain numpy (im2col convolutions), mini-batch Adam (batch {BATCH},
learning rate {CNN_LR}, decoupled weight decay {WEIGHT_DECAY}, label smoothing {LABEL_SMOOTHING}), {CNN_EPOCHS} epochs, fixed seeds,
80/20 stratified train/test split. Float model accuracy: test {test_acc:.2%} ({len(y_test)} images),
train {train_acc:.2%}. Max |layer output| over the test set (conv outputs before Relu): {act_str}.

Files:
- `model.onnx`: the model.
- `input.json`: the first test image, `{{"input_data": [[64 floats]]}}` (one flat list per model input;
  the NCHW [1, 1, 8, 8] tensor flattened row-major, i.e. the 64 pixels row by row).
- `expected.json`: its true `label` and the float `logits` of a numpy forward pass
  (argmax {int(sample_logits.argmax())}).
- `calibration.json`: the first {N_CALIBRATION} test images, `{{"input_data": [[64 floats], [64 floats], ...]}}`
  (one flat list per sample, all for the single input `input`).
- `heldout.json`: all {len(y_test)} test images, `{{"inputs": [[64 floats], ...], "labels": [...],
  "float_predictions": [...]}}` with the float model's predicted class for each image
  (numpy and onnxruntime agree on every one).

Floats in the JSON files are rounded to {JSON_DECIMALS} decimals (the pixels, multiples of 1/16, are exact).
"""
    with open(os.path.join(CNN_OUT_DIR, "README.md"), "w") as f:
        f.write(readme)

    print(f"examples/cnn: test accuracy {test_acc:.2%} (train {train_acc:.2%}, final batch loss {final_loss:.4f}; "
          f"trained in {train_secs:.1f} s)")
    print(f"  simulated {FRAC_BITS}-fractional-bit fixed point test accuracy: {q_acc:.2%} "
          f"(same class as the float model on {q_agree:.2%})")
    print(f"  max |activation| over test set: {act_str} (limit {ACT_LIMIT:.0f})")
    print(f"  max |weight| {max_w:.3f}, max |bias| {max_b:.3f}")
    print(f"  model.onnx {os.path.getsize(model_path)} bytes, onnx.checker OK; {ort_msg}")
    print(f"  sample 0: label {int(y_test[0])}, predicted {int(sample_logits.argmax())}")
    print(f"  heldout.json: {len(y_test)} test images ({os.path.getsize(heldout)} bytes)")


# ---------------------------------------------------------------------------------------------
# examples/matcher
# ---------------------------------------------------------------------------------------------

MATCHER_OUT_DIR = os.path.join(REPO, "examples", "matcher")


def mlp_embedding_params():
    """fc1 and fc2 of the committed examples/mlp/model.onnx."""
    model = onnx.load(os.path.join(OUT_DIR, "model.onnx"))
    arrays = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    return [arrays[n] for n in ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")]


def embed(params, x):
    w1, b1, w2, b2 = params
    h = np.maximum(x @ w1.T + b1, 0.0)
    return np.maximum(h @ w2.T + b2, 0.0)


def matcher_distance(params, x, templates):
    """Mean squared distance between each image's embedding and each template: [images, templates]."""
    e = embed(params, x)
    return ((e[:, None, :] - templates[None, :, :]) ** 2).mean(axis=2)


def matcher_export_onnx(params, path):
    w1, b1, w2, b2 = params
    inits = [numpy_helper.from_array(a, n) for a, n in zip(params, ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"))]
    nodes = [
        helper.make_node("Gemm", ["image", "fc1.weight", "fc1.bias"], ["fc1"], name="fc1", transB=1),
        helper.make_node("Relu", ["fc1"], ["relu1"], name="relu1"),
        helper.make_node("Gemm", ["relu1", "fc2.weight", "fc2.bias"], ["fc2"], name="fc2", transB=1),
        helper.make_node("Relu", ["fc2"], ["embedding"], name="relu2"),
        helper.make_node("Sub", ["embedding", "template"], ["diff"], name="diff"),
        helper.make_node("Mul", ["diff", "diff"], ["squared"], name="squared"),
        helper.make_node("ReduceMean", ["squared"], ["distance"], name="distance", axes=[1], keepdims=1),
    ]
    graph = helper.make_graph(
        nodes,
        "digits_matcher",
        [
            helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, LAYERS[0]]),
            helper.make_tensor_value_info("template", TensorProto.FLOAT, [1, LAYERS[2]]),
        ],
        [helper.make_tensor_value_info("distance", TensorProto.FLOAT, [1, 1])],
        initializer=inits,
    )
    save_model(graph, "mean squared distance between the digits MLP's 16-value embedding of an image and a template", path)


def make_matcher(x_train, x_test, y_train, y_test):
    os.makedirs(MATCHER_OUT_DIR, exist_ok=True)
    params = mlp_embedding_params()
    templates = np.stack([embed(params, x_train[y_train == c]).mean(axis=0) for c in range(10)]).astype(np.float32)
    model_path = os.path.join(MATCHER_OUT_DIR, "model.onnx")
    matcher_export_onnx(params, model_path)

    # Genuine pairs: each test image against its own class's template; impostors: against the others.
    d = matcher_distance(params, x_test, templates)
    own = d[np.arange(len(y_test)), y_test]
    others = d[np.arange(len(y_test))[:, None], [[c for c in range(10) if c != y] for y in y_test]].ravel()
    threshold = float(np.quantile(own, 0.95))  # admits 95% of genuine pairs
    false_accepts = float((others <= threshold).mean())
    identified = float((d.argmin(axis=1) == y_test).mean())

    image, label = x_test[0], int(y_test[0])
    impostor_class = int(np.argsort(d[0])[1]) if int(np.argmin(d[0])) == label else int(np.argmin(d[0]))
    write_json(os.path.join(MATCHER_OUT_DIR, "templates.json"), {"templates": [rfloats(t) for t in templates]})
    write_json(os.path.join(MATCHER_OUT_DIR, "input.json"), {"input_data": [rfloats(image), rfloats(templates[label])]})
    write_json(os.path.join(MATCHER_OUT_DIR, "impostor.json"), {"input_data": [rfloats(image), rfloats(templates[impostor_class])]})
    write_json(
        os.path.join(MATCHER_OUT_DIR, "expected.json"),
        {
            "label": label,
            "distance": round(float(d[0, label]), JSON_DECIMALS),
            "impostor_class": impostor_class,
            "impostor_distance": round(float(d[0, impostor_class]), JSON_DECIMALS),
            "threshold": round(threshold, JSON_DECIMALS),
        },
        indent=2,
    )
    readme = f"""# examples/matcher: face-ID on digits

The pattern of face-ID gating (`contracts/src/FaceIdGate.sol`) on scikit-learn's 8x8 digits, one
digit class standing in for one person. The model takes two inputs, an image `[1, 64]` and an
enrolled template `[1, 16]`, embeds the image with the first two layers of `examples/mlp`
(`Gemm 32 -> Relu -> Gemm 16 -> Relu`, the same weights) and outputs the mean squared distance
`[1, 1]` between the embedding and the template (`Sub`, `Mul`, `ReduceMean`). Not trained: made by
`scripts/make_examples.sh matcher` from the committed MLP.

Compile it with the image private and the template committed to, and a context word for the
gate: `zkml compile examples/matcher/model.onnx -o DIR --input-visibility private,hashed
--context-word`. A proof's public inputs are then the template's Poseidon commitment, the
distance and the context word.

Templates are the mean training embedding of each class. On the {len(y_test)} test images: a
threshold of {threshold:.4f} (the 95th percentile of genuine distances) admits 95% of genuine pairs
and {false_accepts:.2%} of impostor pairs (an image against another class's template); the
nearest template is the image's own class for {identified:.2%} of the images.

Files:
- `model.onnx`: the model (ONNX opset 13, IR version 8).
- `templates.json`: `{{"templates": [[16 floats] x 10]}}`, one per class.
- `input.json`: the first test image (a {label}) and its class's template (a genuine pair).
- `impostor.json`: the same image and the template of class {impostor_class} (an impostor pair).
- `expected.json`: their float distances and the threshold.
"""
    with open(os.path.join(MATCHER_OUT_DIR, "README.md"), "w") as f:
        f.write(readme)
    print(f"examples/matcher: threshold {threshold:.4f} admits 95% of genuine pairs, {false_accepts:.2%} of impostors; "
          f"nearest template is the own class for {identified:.2%}")
    print(f"  sample 0 (a {label}): distance {d[0, label]:.4f} to its template, {d[0, impostor_class]:.4f} to class {impostor_class}'s")


def main():
    x_train, x_test, y_train, y_test = load_data()
    only = sys.argv[1:]
    if not only or "mlp" in only:
        make_mlp(x_train, x_test, y_train, y_test)
    if not only or "cnn" in only:
        make_cnn(x_train, x_test, y_train, y_test)
    if not only or "matcher" in only:
        make_matcher(x_train, x_test, y_train, y_test)


if __name__ == "__main__":
    main()
