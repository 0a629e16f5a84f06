"""Training of the body and face diffusion models (x0 prediction), resumable, seeded, CPU or CUDA.

Each example is a window of `window` frames from one sequence. The known-context
input the networks take at run time is trained with random context masks: half
the windows carry the live session's shape (8 context frames), the rest any
length from none to all but two, so the first sampling step already continues
the past and joins have no seam. The loss is the x0 error on the unknown frames
(known frames count a tenth: the sampler imposes them anyway) plus the error of
their frame-to-frame differences, joined to the known frames: the live session
stitches a sample every hop, so jitter and jumps off the context cost here.

Few-step quality: the session samples 1-8 DDIM steps over "trailing" timesteps,
which visit only {999, 749, 499, 249, ...}. Half the training timesteps are drawn
from the 1/2/4-step grids and half uniformly, so the networks are best exactly
where few-step sampling queries them (x0 prediction is already the
parameterisation that degrades least with few steps).

Kinds: `body` (lower and upper nets; the upper net sees the true lower result,
teacher forcing), `face` (all valid face channels), `face-lip` (starts from a
base face model, trains only `denoiser.*` on lip-accurate data with a loss on the
lip shapes only, so the base encoder stays as the denoiser swap expects).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dyad.models.body_net import BodyModel
from dyad.models.checkpoint import save_checkpoint
from dyad.models.diffusion import alphas_cumprod, ddim_timesteps, q_sample
from dyad.models.face_net import DENOISER_PREFIX, FaceModel
from dyad.models.visemes import LIP_INDICES

KINDS = ("body", "face", "face-lip")
RUNTIME_CONTEXT = 8
FEW_STEP_GRIDS = (1, 2, 4)


@dataclass
class Sequence:
    name: str
    mel: np.ndarray  # [2, T, M]
    words: np.ndarray | None  # [2, T, W]
    no_text: np.ndarray | None  # [2, T]
    actions: np.ndarray  # [2, T] int
    placement: np.ndarray  # [2, T, 4] partner placement relative to each person at every frame
    lower: np.ndarray  # [2, T, Dl] raw
    upper: np.ndarray  # [2, T, Du]
    face: np.ndarray | None  # [2, T, 61]
    face_valid: np.ndarray  # [61] bool
    lip_face: np.ndarray | None
    speakers: np.ndarray  # [2] int
    facing: np.ndarray  # [T] bool
    lip_people: tuple[bool, bool] = (True, True)  # whose lip_face is ground truth (lip_acc: one actor, partner silent)
    vad: np.ndarray | None = None  # [2, T] the front end's voice activity (drives per-person mel normalisation)
    rms_db: np.ndarray | None = None  # [2, T] frame level, dBFS

    @property
    def frames(self) -> int:
        return int(self.mel.shape[1])


@dataclass(frozen=True)
class TrainConfig:
    kind: str
    steps: int = 3000
    batch: int = 64
    window: int = 10  # the live session's window: 8 context + 2 new frames
    lr: float = 1e-3
    seed: int = 0
    val_every: int = 100
    checkpoint_every: int = 250
    few_step_share: float = 0.5
    word_dropout: float = 0.3  # windows trained without words: transcripts are optional at run time
    velocity_weight: float = 1.0  # frame-to-frame difference loss (see `_velocity`)


def _stats(arrays: list[np.ndarray], floor: float) -> tuple[torch.Tensor, torch.Tensor]:
    flat = np.concatenate([a.reshape(-1, a.shape[-1]) for a in arrays]).astype(np.float64)
    return torch.tensor(flat.mean(0), dtype=torch.float32), torch.tensor(np.maximum(flat.std(0), floor), dtype=torch.float32)


def set_statistics(model: BodyModel | FaceModel, sequences: list[Sequence]) -> None:
    """Normalisation statistics from the training data (stored in the checkpoint)."""
    with torch.no_grad():
        mel = _stats([s.mel for s in sequences], 1e-3)
        if isinstance(model, BodyModel):
            for net, name in ((model.lower, "lower"), (model.upper, "upper")):
                net.norm.mean.copy_(_stats([getattr(s, name) for s in sequences], 1e-3)[0])
                net.norm.std.copy_(_stats([getattr(s, name) for s in sequences], 1e-3)[1])
                net.encoder.mel_norm.mean.copy_(mel[0])
                net.encoder.mel_norm.std.copy_(mel[1])
            return
        faces = [s.face for s in sequences if s.face is not None] + [s.lip_face for s in sequences if s.lip_face is not None]
        mean, std = _stats(faces, 0.02)
        valid = torch.tensor(np.all([s.face_valid for s in sequences], axis=0))
        model.norm.mean.copy_(torch.where(valid, mean, 0.0))
        model.norm.std.copy_(torch.where(valid, std, 1.0))
        if model.encoder.audio_norm is not None:
            model.encoder.audio_norm.mean.copy_(mel[0])
            model.encoder.audio_norm.std.copy_(mel[1])


class Batcher:
    """Random windows with random context masks, from a seeded numpy generator."""

    def __init__(self, sequences: list[Sequence], config: TrainConfig, rng: np.random.Generator, lip: bool = False) -> None:
        self.sequences = [s for s in sequences if s.frames > config.window + 1 and (s.lip_face is not None if lip else True)]
        if not self.sequences:
            raise ValueError(f"no sequence longer than {config.window + 1} frames" + (" with lip-accurate face data" if lip else ""))
        lengths = np.array([s.frames - config.window for s in self.sequences], dtype=np.float64)
        self.weights = lengths / lengths.sum()
        self.config, self.rng, self.lip = config, rng, lip

    def picks(self, count: int) -> list[tuple[Sequence, int, int]]:
        out = []
        for _ in range(count):
            seq = self.sequences[self.rng.choice(len(self.sequences), p=self.weights)]
            start = int(self.rng.integers(0, seq.frames - self.config.window))
            w = self.config.window
            context = RUNTIME_CONTEXT if self.rng.random() < 0.5 else int(self.rng.integers(0, w - 1))
            out.append((seq, start, min(context, w - 2)))
        return out


def _timesteps(count: int, train_steps: int, share: float, rng: np.random.Generator) -> torch.Tensor:
    grid = sorted({t for s in FEW_STEP_GRIDS for t in ddim_timesteps(train_steps, s)})
    uniform = rng.integers(0, train_steps, count)
    few = rng.choice(grid, count)
    return torch.tensor(np.where(rng.random(count) < share, few, uniform), dtype=torch.float32)


def _context_mask(picks, shape: tuple[int, ...], time_axis: int) -> torch.Tensor:
    mask = torch.zeros(shape)
    for i, (_, _, c) in enumerate(picks):
        index = [i] + [slice(None)] * (len(shape) - 1)
        index[time_axis] = slice(0, c)
        mask[tuple(index)] = 1.0
    return mask


def _weighted(x0_hat: torch.Tensor, x0: torch.Tensor, mask: torch.Tensor, channel_weight: torch.Tensor | None = None) -> torch.Tensor:
    err = (x0_hat - x0) ** 2 * (1.0 - 0.9 * mask)
    if channel_weight is not None:
        err = err * channel_weight
        return err.sum() / (channel_weight.expand_as(err).sum() + 1e-8)
    return err.mean()


def _velocity(x0_hat: torch.Tensor, x0: torch.Tensor, mask: torch.Tensor, time_axis: int, channel_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Error of frame-to-frame differences, the predicted frames joined to the known ones: a
    sample that is right on average but jitters (or jumps away from the sent context) pays here."""
    joined = torch.lerp(x0_hat, x0, mask)
    err = (joined.diff(dim=time_axis) - x0.diff(dim=time_axis)) ** 2
    unknown = 1.0 - mask.narrow(time_axis, 1, mask.shape[time_axis] - 1)  # pairs whose later frame is sampled
    err = err * unknown
    if channel_weight is not None:
        return (err * channel_weight).sum() / ((unknown * channel_weight).sum() + 1e-8)
    return err.sum() / (unknown.sum() + 1e-8)


def body_loss(model: BodyModel, picks, schedule: torch.Tensor, config: TrainConfig, rng: np.random.Generator, device) -> torch.Tensor:
    w = config.window
    sl = [(s, slice(a, a + w)) for s, a, _ in picks]
    mel = torch.tensor(np.stack([s.mel[:, r] for s, r in sl]), device=device)
    word_dim = model.config.word_dim
    words = np.zeros((len(sl), 2, w, word_dim), np.float32)
    no_text = np.ones((len(sl), 2, w), np.float32)
    for i, (s, r) in enumerate(sl):
        if s.words is not None and rng.random() >= config.word_dropout:
            words[i], no_text[i] = s.words[:, r], s.no_text[:, r]
    cond = (mel, torch.tensor(words, device=device), torch.tensor(no_text, device=device),
            torch.tensor(np.stack([s.actions[:, r] for s, r in sl]), device=device),
            torch.tensor(np.stack([s.placement[:, r.start] for s, r in sl]), device=device))  # fmt: skip
    total, extra = 0.0, None
    for net, name in ((model.lower, "lower"), (model.upper, "upper")):
        x0 = net.norm.normalize(torch.tensor(np.stack([getattr(s, name)[:, r] for s, r in sl]), device=device))
        mask = _context_mask(picks, tuple(x0.shape), 2).to(device)
        if name == "lower":
            mask[:, :, 0, 1:4] = 0.0  # the first frame's deltas point outside the window
        t = _timesteps(len(sl), schedule.shape[0], config.few_step_share, rng).to(device)
        noise = torch.tensor(rng.standard_normal(tuple(x0.shape)), dtype=torch.float32, device=device)
        x_t = q_sample(x0, schedule[t.long()].view(-1, 1, 1, 1).float(), noise)
        encoded = net.encoder(*cond, x0 * mask, mask, extra=extra)
        x0_hat = net.denoiser(x_t, t, *encoded)
        total = total + _weighted(x0_hat, x0, mask) + config.velocity_weight * _velocity(x0_hat, x0, mask, 2)
        extra = x0  # the upper net is conditioned on the true lower result
    return total


def face_loss(model: FaceModel, picks, schedule: torch.Tensor, config: TrainConfig, rng: np.random.Generator, device, lip: bool) -> torch.Tensor:
    w = config.window
    people = [(pick, p) for pick in picks for p in (0, 1) if not lip or pick[0].lip_people[p]]
    rows = [(s, slice(a, a + w), p) for (s, a, _), p in people]
    mel = np.stack([s.mel[p, r] for s, r, p in rows])
    partner = np.stack([s.mel[1 - p, r] for s, r, p in rows])
    target = np.stack([(s.lip_face if lip and s.lip_face is not None else s.face)[p, r] for s, r, p in rows])
    speakers = torch.tensor([int(s.speakers[p]) for s, _, p in rows])
    facing = torch.tensor([[1.0, 0.0] if s.facing[r.start] else [0.0, 1.0] for s, r, _ in rows], device=device)
    x0 = model.norm.normalize(torch.tensor(target, device=device))
    row_picks = [pick for pick, _ in people]
    mask = _context_mask(row_picks, tuple(x0.shape), 1).to(device)
    weight = torch.zeros(x0.shape[-1], device=device)
    if lip:
        weight[torch.tensor(LIP_INDICES)] = 1.0
    else:
        weight[:] = torch.tensor(np.all([s.face_valid for s, _, _ in rows], axis=0), dtype=torch.float32)
    t = _timesteps(len(rows), schedule.shape[0], config.few_step_share, rng).to(device)
    noise = torch.tensor(rng.standard_normal(tuple(x0.shape)), dtype=torch.float32, device=device)
    x_t = q_sample(x0, schedule[t.long()].view(-1, 1, 1).float(), noise)
    one_hot = F.one_hot(speakers % model.config.speakers, model.config.speakers).float().to(device)
    encoded = model.encoder(torch.tensor(mel, device=device), torch.tensor(partner, device=device), one_hot, facing, x0 * mask, mask)
    x0_hat = model.denoiser(x_t, t, *encoded)
    return _weighted(x0_hat, x0, mask, weight) + config.velocity_weight * _velocity(x0_hat, x0, mask, 1, weight)


def _loss(model, kind: str, picks, schedule, config, rng, device) -> torch.Tensor:
    if kind == "body":
        return body_loss(model, picks, schedule, config, rng, device)
    return face_loss(model, picks, schedule, config, rng, device, lip=kind == "face-lip")


def trainable(model, kind: str) -> list[torch.nn.Parameter]:
    if kind != "face-lip":
        return list(model.parameters())
    params = []
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(DENOISER_PREFIX))  # the swap keeps the base's encoder: freeze it
        if p.requires_grad:
            params.append(p)
    return params


class Trainer:
    """One run: `state.pt` in `out` holds everything needed to resume bit for bit."""

    def __init__(self, model, kind: str, train: list[Sequence], val: list[Sequence], config: TrainConfig, out: Path, device: str = "cpu") -> None:
        self.model, self.kind, self.config, self.out, self.device = model.to(device), kind, config, Path(out), torch.device(device)
        diffusion = model.config.diffusion
        self.schedule = alphas_cumprod(diffusion.train_steps, diffusion.schedule).float().to(self.device)
        self.rng = np.random.default_rng(config.seed)
        torch.manual_seed(config.seed)
        lip = kind == "face-lip"
        self.batcher = Batcher(train, config, self.rng, lip)
        val_rng = np.random.default_rng(config.seed + 1)  # fixed validation windows and noise: a comparable curve
        val_batcher = Batcher(val, config, val_rng, lip and any(s.lip_face is not None for s in val))
        self.val = [(val_batcher.picks(config.batch), int(val_rng.integers(1 << 30))) for _ in range(4)]
        self.optimizer = torch.optim.AdamW(trainable(model, kind), lr=config.lr, weight_decay=1e-4)
        self.step, self.history = 0, {"step": [], "train": [], "val": []}
        self.state_path = self.out / f"{kind}_state.pt"

    def resume(self) -> bool:
        if not self.state_path.is_file():
            return False
        state = torch.load(self.state_path, map_location=self.device, weights_only=False)
        if state["kind"] != self.kind or state["config"]["window"] != self.config.window:
            raise ValueError(f"{self.state_path}: saved for another run ({state['kind']}, window {state['config']['window']})")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        self.step, self.history = state["step"], state["history"]
        return True

    def save_state(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        state = {"kind": self.kind, "config": asdict(self.config), "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "rng": self.rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "step": self.step, "history": self.history}  # fmt: skip
        tmp = self.state_path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(self.state_path)  # a kill mid-write never leaves a broken state file

    @torch.no_grad()
    def validate(self) -> float:
        self.model.eval()
        losses = [float(_loss(self.model, self.kind, picks, self.schedule, self.config, np.random.default_rng(seed), self.device)) for picks, seed in self.val]
        self.model.train()
        return float(np.mean(losses))

    def run(self, progress=None) -> dict:
        self.model.train()
        running = []
        while self.step < self.config.steps:
            picks = self.batcher.picks(self.config.batch)
            loss = _loss(self.model, self.kind, picks, self.schedule, self.config, self.rng, self.device)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            for group in self.optimizer.param_groups:  # cosine decay to 10 %
                group["lr"] = self.config.lr * (0.55 + 0.45 * np.cos(np.pi * self.step / self.config.steps))
            self.optimizer.step()
            self.step += 1
            value = float(loss.detach())
            running.append(value)
            if progress is not None:
                progress(self.step, value)
            if self.step % self.config.val_every == 0 or self.step == self.config.steps:
                self.history["step"].append(self.step)
                self.history["train"].append(float(np.mean(running)))
                self.history["val"].append(self.validate())
                running = []
            if self.step % self.config.checkpoint_every == 0 or self.step == self.config.steps:
                self.save_state()
        return self.history

    def finish(self, checkpoint: Path) -> Path:
        self.model.eval()
        save_checkpoint(checkpoint, self.model.cpu(), trained=True)
        plot_history(self.history, self.out / f"{self.kind}_loss.png", self.kind)
        (self.out / f"{self.kind}_loss.json").write_text(json.dumps(self.history, indent=1) + "\n", encoding="utf-8")
        return checkpoint


def plot_history(history: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(history["step"], history["train"], label="train")
    ax.plot(history["step"], history["val"], label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("x0 loss (normalised)")
    ax.set_yscale("log")
    ax.set_title(f"dyad train {title}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
