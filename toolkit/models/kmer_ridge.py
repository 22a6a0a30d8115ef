"""The simple baseline every CRE metric is shown next to: k-mer ridge regression.

Features: counts of every k-mer for k = 1..6 (5,460 features), each k-mer counted
on both strands (a k-mer and its reverse complement share a count, so the model is
strand-symmetric), windows with N skipped; divided by the number of windows
(frequencies), then standardised with the train rows' mean and SD. Ridge regression
per task on the standardised targets, fitted through the SVD of the train matrix so
that every penalty of the grid costs one matrix product; the penalty is chosen per
task by validation Pearson r.
"""

import numpy as np

from ..features.encode import by_length, kmer_index

ALPHAS = tuple(10.0 ** np.arange(-1, 5.5, 0.5))


def kmer_features(seqs, kmax=6):
    """Strand-summed k-mer frequencies, k = 1..kmax: float32 (n, sum 4^k)."""
    n = len(seqs)
    offs = np.cumsum([0] + [4 ** k for k in range(1, kmax + 1)])
    X = np.zeros((n, offs[-1]), dtype=np.float32)
    for k in range(1, kmax + 1):
        rc = _rc_index(k)
        for idx, codes in by_length(seqs):
            ki = kmer_index(codes, k)                       # (m, W), -1 with N
            if ki.shape[1] == 0:
                continue
            m = ki.shape[0]
            rows = np.repeat(np.arange(m), ki.shape[1])
            flat = ki.ravel()
            ok = flat >= 0
            counts = np.zeros((m, 4 ** k), dtype=np.float32)
            np.add.at(counts, (rows[ok], flat[ok]), 1.0)
            counts = counts + counts[:, rc]
            X[idx, offs[k - 1]:offs[k]] = counts / max(ki.shape[1], 1)
    return X


def _rc_index(k):
    codes = np.arange(4 ** k)
    digits = (codes[:, None] // 4 ** np.arange(k - 1, -1, -1)[None, :]) % 4
    rc = (3 - digits)[:, ::-1]
    return (rc * 4 ** np.arange(k - 1, -1, -1)[None, :]).sum(axis=1)


class KmerRidge:
    """Fitted k-mer ridge regression, one penalty per task."""

    def __init__(self, kmax=6, alphas=ALPHAS):
        self.kmax = kmax
        self.alphas = tuple(alphas)

    def fit(self, train_seqs, train_y, val_seqs, val_y):
        """Fit on train rows, choose each task's penalty on val rows (NaN labels skipped)."""
        Xtr = kmer_features(train_seqs, self.kmax).astype(np.float64)
        self.mu = Xtr.mean(axis=0)
        self.sd = Xtr.std(axis=0)
        self.sd[self.sd == 0] = 1.0
        Xtr = (Xtr - self.mu) / self.sd
        Xva = (kmer_features(val_seqs, self.kmax) - self.mu) / self.sd
        T = train_y.shape[1]
        self.coef = np.zeros((Xtr.shape[1], T))
        self.intercept = np.zeros(T)
        self.alpha = np.zeros(T)
        self.val_r = np.full(T, np.nan)
        cache = {}
        for t in range(T):
            ok = np.isfinite(train_y[:, t])
            key = ok.tobytes()
            if key not in cache:   # tasks labelled on the same rows share one decomposition
                cache = {key: _decompose(Xtr[ok])}
            U, s, Vt = cache[key]
            y = train_y[ok, t]
            ym = y.mean()
            Uty = U.T @ (y - ym)
            vok = np.isfinite(val_y[:, t])
            best = (-np.inf, None, None)
            for a in self.alphas:
                beta = Vt.T @ (s / (s ** 2 + a) * Uty)
                p = Xva[vok] @ beta + ym
                r = _r(p, val_y[vok, t])
                if r > best[0]:
                    best = (r, a, beta)
            self.val_r[t], self.alpha[t], self.coef[:, t] = best
            self.intercept[t] = ym
        return self

    def predict(self, seqs):
        X = (kmer_features(seqs, self.kmax) - self.mu) / self.sd
        return X @ self.coef + self.intercept

    def state(self):
        """The fitted parameters as arrays (what fit-cre saves in baseline.pt)."""
        return {"kmax": np.array(self.kmax), "mu": self.mu, "sd": self.sd, "coef": self.coef,
                "intercept": self.intercept, "alpha": self.alpha}

    @classmethod
    def from_state(cls, state):
        """A fitted model back from :meth:`state` (arrays or tensors)."""
        m = cls(kmax=int(np.asarray(state["kmax"])))
        for k in ("mu", "sd", "coef", "intercept", "alpha"):
            setattr(m, k, np.asarray(state[k], dtype=np.float64))
        return m


def _decompose(X):
    """Thin SVD X = U diag(s) Vt through the eigendecomposition of the smaller Gram matrix."""
    if X.shape[0] <= X.shape[1]:
        ev, U = np.linalg.eigh(X @ X.T)
        keep = ev > ev.max() * 1e-12
        s = np.sqrt(ev[keep])
        U = U[:, keep]
        Vt = (U.T @ X) / s[:, None]
    else:
        ev, V = np.linalg.eigh(X.T @ X)
        keep = ev > ev.max() * 1e-12
        s = np.sqrt(ev[keep])
        Vt = V[:, keep].T
        U = (X @ V[:, keep]) / s[None, :]
    return U, s, Vt


def _r(a, b):
    a = a - a.mean()
    b = b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else -np.inf
