"""qat from Python: a ctypes binding over libqat.so (numpy arrays in and out).

libqat.so is found through $QAT_LIBRARY (a path to the file), else the system's library
search (ctypes.util.find_library("qat"), LD_LIBRARY_PATH). Build and install it with
``cmake --install build --prefix PREFIX``.

    import qat
    run = qat.train("config.yaml", out_dir="runs/x", epochs=1)
    net = qat.Net(run["checkpoint"])
    logits = net.forward(x)                 # float
    logits_fq = net.forward(x, fake_quant=True)
    qat.export(run["checkpoint"], "m.tflite", mode="int8")
    y = qat.Model("m.tflite").run(x_int8)   # qat's integer runtime
    report = qat.parity(run["checkpoint"], "m.tflite", x, labels)   # a dict
"""
import ctypes
import ctypes.util
import json
import os

import numpy as np

__all__ = ["QatError", "version", "train", "export", "Net", "Model", "parity", "library_path"]


class QatError(RuntimeError):
    """A libqat call failed; the message is libqat's one-line error."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _find():
    env = os.environ.get("QAT_LIBRARY")
    if env:
        return env
    found = ctypes.util.find_library("qat")
    return found or "libqat.so"


library_path = _find()
try:
    _lib = ctypes.CDLL(library_path)
except OSError as e:  # pragma: no cover - the message is the point
    raise ImportError(f"qat: cannot load libqat ({library_path}): {e}; set QAT_LIBRARY to libqat.so") from e

_c = ctypes
_lib.qat_version.restype = _c.c_char_p
_lib.qat_error_message.restype = _c.c_char_p


class _TrainRequest(_c.Structure):
    _fields_ = [("config", _c.c_char_p), ("out_dir", _c.c_char_p), ("epochs", _c.c_int), ("batch_size", _c.c_int),
                ("threads", _c.c_int), ("log_every", _c.c_int)]


class _TrainSummary(_c.Structure):
    _fields_ = [("epochs", _c.c_int), ("steps", _c.c_int64), ("train_loss", _c.c_double),
                ("train_accuracy", _c.c_double), ("has_test", _c.c_int), ("test_loss", _c.c_double),
                ("test_accuracy", _c.c_double), ("has_float", _c.c_int), ("float_test_accuracy", _c.c_double),
                ("checkpoint", _c.c_char * 4200)]


class _ExportRequest(_c.Structure):
    _fields_ = [("mode", _c.c_char_p), ("io", _c.c_char_p), ("calibrate", _c.c_int64), ("method", _c.c_char_p),
                ("percentile", _c.c_double), ("calibration_data", _c.c_char_p)]


class _RtOptions(_c.Structure):
    _fields_ = [("max_file_bytes", _c.c_size_t), ("flavor", _c.c_int), ("preserve_all_tensors", _c.c_int),
                ("max_arena_bytes", _c.c_size_t)]


class _TensorInfo(_c.Structure):
    _fields_ = [("name", _c.c_char_p), ("type", _c.c_int), ("rank", _c.c_int), ("dims", _c.POINTER(_c.c_int32)),
                ("n_elems", _c.c_int64), ("bytes", _c.c_size_t), ("buffer", _c.c_int), ("is_const", _c.c_int),
                ("is_input", _c.c_int), ("is_output", _c.c_int), ("n_scales", _c.c_int),
                ("scales", _c.POINTER(_c.c_float)), ("zero_points", _c.POINTER(_c.c_int64)),
                ("quantized_dimension", _c.c_int), ("in_arena", _c.c_int), ("arena_offset", _c.c_size_t)]


_P = _c.c_void_p
_sig = {
    "qat_train_config": ([_c.POINTER(_TrainRequest), _c.POINTER(_TrainSummary)], _c.c_int),
    "qat_export_file": ([_c.c_char_p, _c.POINTER(_ExportRequest), _c.c_char_p], _c.c_int),
    "qat_net_load": ([_c.c_char_p, _c.c_int, _c.POINTER(_P)], _c.c_int),
    "qat_net_free": ([_P], None),
    "qat_net_info": ([_P] + [_c.POINTER(_c.c_int)] * 5, None),
    "qat_net_forward": ([_P, _c.POINTER(_c.c_float), _c.c_int64, _c.c_int, _c.POINTER(_c.c_float)], _c.c_int),
    "qat_parity_json": ([_c.c_char_p, _c.c_char_p, _c.POINTER(_c.c_float), _c.POINTER(_c.c_int32), _c.c_int64,
                         _c.c_int64, _c.POINTER(_P)], _c.c_int),
    "qat_free": ([_P], None),
    "qat_rt_model_load_file": ([_c.c_char_p, _c.POINTER(_RtOptions), _c.POINTER(_P)], _c.c_int),
    "qat_rt_model_free": ([_P], None),
    "qat_rt_num_inputs": ([_P], _c.c_int),
    "qat_rt_num_outputs": ([_P], _c.c_int),
    "qat_rt_input": ([_P, _c.c_int], _c.c_int),
    "qat_rt_output": ([_P, _c.c_int], _c.c_int),
    "qat_rt_tensor": ([_P, _c.c_int, _c.POINTER(_TensorInfo)], _c.c_int),
    "qat_rt_tensor_data": ([_P, _c.c_int], _P),
    "qat_rt_invoke": ([_P], _c.c_int),
    "qat_rt_arena_bytes": ([_P], _c.c_size_t),
}
for _name, (_args, _res) in _sig.items():
    _f = getattr(_lib, _name)
    _f.argtypes = _args
    _f.restype = _res


def _check(status):
    if status != 0:
        raise QatError(status, _lib.qat_error_message().decode(errors="replace"))


def _b(s):
    return None if s is None else os.fsencode(s)


def version():
    """libqat's version string."""
    return _lib.qat_version().decode()


def train(config, out_dir=None, epochs=0, batch_size=0, threads=0, log_every=50):
    """Trains CONFIG (a YAML path); returns a dict with the summary and the checkpoint path.
    The run folder gets checkpoints, log.csv, steps.csv and a TensorBoard events file."""
    req = _TrainRequest(_b(config), _b(out_dir), epochs, batch_size, threads, log_every)
    s = _TrainSummary()
    _check(_lib.qat_train_config(_c.byref(req), _c.byref(s)))
    out = {"epochs": s.epochs, "steps": s.steps, "train_loss": s.train_loss, "train_accuracy": s.train_accuracy,
           "checkpoint": s.checkpoint.decode()}
    if s.has_test:
        out.update(test_loss=s.test_loss, test_accuracy=s.test_accuracy)
    if s.has_float:
        out["float_test_accuracy"] = s.float_test_accuracy
    return out


def export(checkpoint, path, mode="int8", io=None, calibrate=0, method=None, calibration_data=None):
    """Writes CHECKPOINT as a .tflite file (mode float32, float16, dynamic, int8, int16x8)."""
    req = _ExportRequest(_b(mode), _b(io), int(calibrate), _b(method), 0.0, _b(calibration_data))
    _check(_lib.qat_export_file(_b(checkpoint), _c.byref(req), _b(path)))
    return path


def _floats(x, shape):
    x = np.ascontiguousarray(x, dtype=np.float32)
    per = int(np.prod(shape))
    if x.size % per:
        raise ValueError(f"input of {x.size} values is not a whole number of samples of shape {tuple(shape)}")
    return x.reshape(-1, per), x.size // per


class Net:
    """A checkpoint's network in qat's training engine, for float and fake-quant forward passes."""

    def __init__(self, checkpoint, max_batch=64):
        self._h = _P()
        _check(_lib.qat_net_load(_b(checkpoint), int(max_batch), _c.byref(self._h)))
        v = [_c.c_int() for _ in range(5)]
        _lib.qat_net_info(self._h, *[_c.byref(i) for i in v])
        self.input_shape = (v[0].value, v[1].value, v[2].value)
        self.num_classes = v[3].value
        self.quantized = bool(v[4].value)

    def forward(self, x, fake_quant=False):
        """Outputs [N, values] of preprocessed float inputs [N, H, W, C] (or one sample): a classifier's
        logits, a segmenter's H * W * classes scores, a regressor's values (num_classes of them)."""
        flat, n = _floats(x, self.input_shape)
        out = np.empty((n, self.num_classes), dtype=np.float32)
        _check(_lib.qat_net_forward(self._h, flat.ctypes.data_as(_c.POINTER(_c.c_float)), n, int(bool(fake_quant)),
                                    out.ctypes.data_as(_c.POINTER(_c.c_float))))
        return out

    def close(self):
        if self._h:
            _lib.qat_net_free(self._h)
            self._h = _P()

    __del__ = close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


_DTYPES = {0: np.float32, 2: np.int32, 3: np.uint8, 4: np.int64, 7: np.int16, 9: np.int8}


class Model:
    """A .tflite file in qat's integer runtime (bit-exact with TFLite's reference kernels;
    flavor='tflm' for TensorFlow Lite Micro's)."""

    def __init__(self, path, flavor="litert"):
        if flavor not in ("litert", "tflm"):
            raise ValueError("flavor is 'litert' or 'tflm'")
        opt = _RtOptions(0, 1 if flavor == "tflm" else 0, 0)
        self._h = _P()
        _check(_lib.qat_rt_model_load_file(_b(path), _c.byref(opt), _c.byref(self._h)))
        self.inputs = [self._info(_lib.qat_rt_input(self._h, i)) for i in range(_lib.qat_rt_num_inputs(self._h))]
        self.outputs = [self._info(_lib.qat_rt_output(self._h, i)) for i in range(_lib.qat_rt_num_outputs(self._h))]
        self.arena_bytes = _lib.qat_rt_arena_bytes(self._h)

    def _info(self, index):
        t = _TensorInfo()
        _check(_lib.qat_rt_tensor(self._h, index, _c.byref(t)))
        if t.type not in _DTYPES:
            raise QatError(-7, f"tensor {index}: type {t.type} has no numpy dtype here")
        q = None
        if t.n_scales == 1:
            q = (float(t.scales[0]), int(t.zero_points[0]))
        return {"index": index, "name": t.name.decode(), "dtype": np.dtype(_DTYPES[t.type]),
                "shape": tuple(t.dims[i] for i in range(t.rank)), "bytes": t.bytes, "quantization": q}

    def run(self, x):
        """Runs a batch: x [N, ...] in the input's dtype (one sample per invocation, as the file's
        batch is 1); returns [N, ...] outputs of output 0."""
        i, o = self.inputs[0], self.outputs[0]
        x = np.ascontiguousarray(x, dtype=i["dtype"])
        per = int(np.prod(i["shape"]))
        if x.size % per:
            raise ValueError(f"input of {x.size} values is not a whole number of samples of shape {i['shape']}")
        x = x.reshape(-1, per)
        out = np.empty((x.shape[0],) + o["shape"][1:] if len(o["shape"]) > 1 else (x.shape[0],) + o["shape"],
                       dtype=o["dtype"])
        flat = out.reshape(x.shape[0], -1)
        for k in range(x.shape[0]):
            _c.memmove(_lib.qat_rt_tensor_data(self._h, i["index"]), x[k].ctypes.data, i["bytes"])
            _check(_lib.qat_rt_invoke(self._h))
            _c.memmove(flat[k].ctypes.data, _lib.qat_rt_tensor_data(self._h, o["index"]), o["bytes"])
        return out

    def close(self):
        if self._h:
            _lib.qat_rt_model_free(self._h)
            self._h = _P()

    __del__ = close


def parity(checkpoint, tflite, x=None, labels=None, limit=0):
    """The parity report of CHECKPOINT against its int8 file as a dict: accuracies of the float,
    fake-quant and int8 models, top-1 agreement and per-tensor LSB statistics. x/labels: your
    own preprocessed samples; None: the checkpoint config's test set (limit samples)."""
    out = _P()
    if x is None:
        _check(_lib.qat_parity_json(_b(checkpoint), _b(tflite), None, None, 0, int(limit), _c.byref(out)))
    else:
        x = np.ascontiguousarray(x, dtype=np.float32)
        y = np.ascontiguousarray(labels, dtype=np.int32).ravel()
        if y.size == 0 or x.size % y.size:
            raise ValueError("x must hold len(labels) samples")
        _check(_lib.qat_parity_json(_b(checkpoint), _b(tflite), x.ctypes.data_as(_c.POINTER(_c.c_float)),
                                    y.ctypes.data_as(_c.POINTER(_c.c_int32)), y.size, 0, _c.byref(out)))
    try:
        return json.loads(_c.string_at(out).decode())
    finally:
        _lib.qat_free(out)
