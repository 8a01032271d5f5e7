"""ONNX Runtime baseline for benchmark (b): the same model, the same batch
sizes, one thread, on this machine. Prints ns/record for batch 1 and 64.

    .venv/bin/python bench/bench_ort.py models/default/fraudd-default.onnx

ONNX Runtime is timed through its Python API: per call overhead of the
binding (~1-2 us) is included at batch 1, and amortised at batch 64.
"""
import sys
import time

import numpy as np
import onnxruntime as ort


def measure(sess, name, x, batch, secs=2.0):
    best = 1e30
    for _ in range(5):
        n, off, t0 = 0, 0, time.perf_counter()
        while True:
            for _ in range(64):
                if off + batch > len(x):
                    off = 0
                sess.run(None, {name: x[off:off + batch]})
                off += batch
                n += batch
            t = time.perf_counter() - t0
            if t > secs / 5:
                break
        best = min(best, t * 1e9 / n)
    return best


def main():
    path = sys.argv[1]
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    nin = sess.get_inputs()[0].shape[1]
    x = np.random.RandomState(42).uniform(-2, 2, size=(4096, nin)).astype(np.float32)
    b1, b64 = measure(sess, name, x, 1), measure(sess, name, x, 64)
    print(f"onnxruntime {ort.__version__} (1 thread)   {b1:8.1f} ns {b64:8.1f} ns")
    print(f"RESULT ort_ns_per_record batch1={b1:.1f} batch64={b64:.1f}")


if __name__ == "__main__":
    main()
