# CrypTen's secure inference of a BERT-shaped encoder (random weights), for bench/runtime.ts:
# two parties (CrypTen's run_multiprocess, one process each, one thread each), batch 1, a
# one-hot word embedding with a secret table, post-LN layers with LayerNorm as mean, square,
# inv_sqrt, GELU as 0.5 x (1 + erf(x / sqrt 2)), softmax attention, a tanh pooler and a
# classifier: the construction ../shared/CRYPTEN-COSTS.md describes. CrypTen's default
# configuration (trusted-first-party provider: online cost only).
#
#   python3 bench/crypten-bert.py --layers 12 --hidden 768 --heads 12 --intermediate 3072 --vocab 30522 --seq 128
#   python3 bench/crypten-bert.py --check      # exit 0 when CrypTen and PyTorch import (prints their versions)
#
# CrypTen is not a dependency of this project: it is found on PYTHONPATH, or in the directory
# --crypten-src (default: $CRYPTEN_SRC) names, a checkout of github.com/facebookresearch/CrypTen
# (the directory that holds crypten/ and configs/). PyTorch and omegaconf from Debian
# (python3-torch, python3-omegaconf, python3-onnx, with /usr/bin/python3) are enough; CrypTen's
# other requirements (torchvision, pandas, tensorboard, ...) are not imported on this path.
#
# Prints one line: CRYPTEN {"wallSeconds": ..., "cpuSeconds": ..., "peakRssBytes": ...}. Wall is
# party 0's time for the forward pass (sharing included); CPU and peak RSS are the two party
# processes' (getrusage of the children, after both exited; peak is the larger one's).

import argparse
import json
import math
import os
import resource
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="only import CrypTen and PyTorch and print their versions")
    ap.add_argument("--crypten-src", default=os.environ.get("CRYPTEN_SRC"), help="a CrypTen checkout (default $CRYPTEN_SRC)")
    ap.add_argument("--layers", type=int)
    ap.add_argument("--hidden", type=int)
    ap.add_argument("--heads", type=int)
    ap.add_argument("--intermediate", type=int)
    ap.add_argument("--vocab", type=int, default=30522)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--labels", type=int, default=2)
    args = ap.parse_args()
    if args.crypten_src:
        if not os.path.isdir(os.path.join(args.crypten_src, "crypten")):
            sys.exit(f"--crypten-src / CRYPTEN_SRC: {args.crypten_src} has no crypten/ directory (expected a CrypTen checkout)")
        sys.path.insert(0, os.path.abspath(args.crypten_src))

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import torch
        import crypten
        import crypten.mpc as mpc
    except ImportError as e:
        hint = "" if args.crypten_src else "; set CRYPTEN_SRC to a CrypTen checkout" if e.name == "crypten" else ""
        sys.exit(f"not installed: {e}{hint}")

    if args.check:
        print(f"CRYPTEN-CHECK torch {torch.__version__}, crypten from {os.path.dirname(os.path.dirname(crypten.__file__))}")
        return
    if None in (args.layers, args.hidden, args.heads, args.intermediate):
        ap.error("--layers, --hidden, --heads and --intermediate are required")

    torch.set_num_threads(1)
    out_path = f"/tmp/crypten-bert-{os.getpid()}.json"

    @mpc.run_multiprocess(world_size=2)
    def party() -> None:
        torch.set_num_threads(1)
        rank = crypten.communicator.get().get_rank()
        g = torch.Generator().manual_seed(0)
        H, L, A, I, V, S = args.hidden, args.layers, args.heads, args.intermediate, args.vocab, args.seq
        d = H // A

        def w(*shape: int) -> torch.Tensor:
            return torch.randn(*shape, generator=g) * 0.02

        t0 = time.perf_counter()
        # Weights are party 0's, the token ids party 1's (as one-hot rows).
        enc = lambda t: crypten.cryptensor(t, src=0)
        ids = torch.arange(S) * 7919 % V
        onehot = crypten.cryptensor(torch.nn.functional.one_hot(ids, V).float(), src=1)
        table = enc(w(V, H))
        pos = enc(w(S, H))

        def layer_norm(x, gamma, beta):
            mean = x.mean(dim=-1, keepdim=True)
            c = x - mean
            var = c.square().mean(dim=-1, keepdim=True)
            return c * (var + 1e-12).inv_sqrt() * gamma + beta

        def linear(x, wt, b):
            return x.matmul(wt) + b

        x = onehot.matmul(table) + pos
        x = layer_norm(x, enc(torch.ones(H)), enc(torch.zeros(H)))
        for _ in range(L):
            q = linear(x, enc(w(H, H)), enc(w(H)))
            k = linear(x, enc(w(H, H)), enc(w(H)))
            v = linear(x, enc(w(H, H)), enc(w(H)))
            heads = []
            for h in range(A):
                sl = slice(h * d, (h + 1) * d)
                scores = q[:, sl].matmul(k[:, sl].t()) * (1.0 / math.sqrt(d))
                heads.append(scores.softmax(dim=-1).matmul(v[:, sl]))
            ctx = crypten.cat(heads, dim=-1)
            x = layer_norm(x + linear(ctx, enc(w(H, H)), enc(w(H))), enc(torch.ones(H)), enc(torch.zeros(H)))
            u = linear(x, enc(w(H, I)), enc(w(I)))
            u = u * 0.5 * ((u * (1.0 / math.sqrt(2.0))).erf() + 1.0)
            x = layer_norm(x + linear(u, enc(w(I, H)), enc(w(H))), enc(torch.ones(H)), enc(torch.zeros(H)))
        pooled = linear(x[0:1, :], enc(w(H, H)), enc(w(H))).tanh()
        logits = linear(pooled, enc(w(H, args.labels)), enc(w(args.labels))).get_plain_text()
        wall = time.perf_counter() - t0
        if rank == 0:
            with open(out_path, "w") as f:
                json.dump({"wallSeconds": wall, "logits": logits.tolist()}, f)

    crypten.init()
    party()
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out_path) as f:
        res = json.load(f)
    os.unlink(out_path)
    res["cpuSeconds"] = ru.ru_utime + ru.ru_stime
    res["peakRssBytes"] = ru.ru_maxrss * 1024
    print("CRYPTEN " + json.dumps({k: res[k] for k in ("wallSeconds", "cpuSeconds", "peakRssBytes")}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
