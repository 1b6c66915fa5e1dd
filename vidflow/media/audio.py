"""The soundtrack: music bed, ducking under speech and loudness, as pure argv/filtergraph builders.

Owns how a video's audio is mixed, not running it (``compose.build_soundtrack`` runs these
three ffmpeg passes and reads their measurements):

1. **voice**: every line padded to its slot (``ffmpeg.assemble_filtergraph``), written once as
   a mono WAV; the voice (as stereo) and the music bed (looped to the video's length) are
   measured with ``ebur128`` on the way, each filter named (``ebur128@voice``) so their
   summaries can be told apart;
2. **mix**: the bed set ``music_volume`` LU under the voice, faded in and out, ducked by
   ``duck`` dB around every line (volume automation from the lines' exact timings: no
   sidechain detector, so the same lines always give the same envelope), summed with the voice,
   raised to the target and peak-limited; written as float WAV and measured again;
3. **finish**: the small correction that limiting made necessary, the limiter once more, and
   stereo AAC at 48 kHz.

Measuring and correcting (passes 1-2-3) is the two-pass loudness normalisation of ``loudnorm``
without its 192 kHz dynamic mode: on a 20 s espeak track it lands within 0.3 LU of the target
at a fifth of loudnorm's CPU. The limiter works on samples, so its ceiling sits
:data:`PEAK_MARGIN` dB under the true-peak target (inter-sample and AAC overshoot stay inside it).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import MediaError
from ..storage import file_sha256
from .ffmpeg import PathLike, assemble_filtergraph, path_arg
from .timeline import VideoSettings

__all__ = [
    "AudioMix",
    "Loudness",
    "MUSIC_EXTENSIONS",
    "bundled_music",
    "correction",
    "duck_expression",
    "finish_argv",
    "gains",
    "mix_argv",
    "mix_filtergraph",
    "music_digest",
    "music_files",
    "not_audio",
    "parse_loudness",
    "pick_music",
    "voice_argv",
    "voice_filtergraph",
]

#: Audio files a music folder may hold (others, such as a LICENSE or a README, are ignored).
MUSIC_EXTENSIONS = (".aac", ".flac", ".m4a", ".mp3", ".oga", ".ogg", ".opus", ".wav")
#: The limiter's sample ceiling sits this far under the true-peak target.
PEAK_MARGIN = 1.0
#: The ducking envelope is evaluated once per this many samples (10 ms at 48 kHz).
DUCK_STEP = 480
#: Gains are clamped to this (dB): a silent input is not raised by 70 dB into noise.
MAX_GAIN = 30.0
#: Integrated loudness below this (LUFS) is silence (ebur128 reports -70 for digital silence).
SILENT = -60.0
_BUNDLED = Path(__file__).resolve().parent / "music"
_LOOP_FOREVER = "aloop=loop=-1:size=2147483647"  # loops what it buffered at EOF: seamless


@dataclass(frozen=True)
class AudioMix:
    """How the soundtrack is mixed (recipe keys of a compose step, with their defaults).

    ``loudness``: integrated target in LUFS (None: no normalisation); ``true_peak``: ceiling in
    dBTP; ``music_volume``: the bed's loudness relative to the voice's, in LU, where nobody
    speaks; ``duck``: how many dB the bed drops under speech (0: no ducking); ``attack``: the bed
    starts dropping this long before a line; ``release``: and takes this long to come back after
    it; ``fade_in``/``fade_out``: the bed's fades at the video's ends (at most a quarter of it).
    """

    loudness: float | None = -14.0
    true_peak: float = -1.0
    music_volume: float = -12.0
    duck: float = 12.0
    attack: float = 0.1
    release: float = 0.4
    fade_in: float = 1.0
    fade_out: float = 2.0

    def __post_init__(self) -> None:
        if self.duck < 0 or self.attack <= 0 or self.release <= 0 or self.fade_in < 0 or self.fade_out < 0:
            raise MediaError(f"invalid audio mix: {self}")


@dataclass(frozen=True)
class Loudness:
    """An ``ebur128`` summary: integrated loudness (LUFS), loudness range (LU), true peak (dBTP,
    None when not measured; ``-inf`` for silence)."""

    integrated: float
    lra: float
    true_peak: float | None = None


def _db(x: float) -> str:
    return f"{x:.3f}dB"


def _clamp(x: float) -> float:
    return max(-MAX_GAIN, min(MAX_GAIN, x))


def _music_chain(index: int, samples: int, s: VideoSettings) -> str:
    """Input ``index`` decoded to float stereo at the video's rate, looped to ``samples``."""
    return (
        f"[{index}:a]aresample={s.audio_rate},aformat=sample_fmts=fltp:channel_layouts=stereo,"
        f"{_LOOP_FOREVER},atrim=end_sample={samples}"
    )


_STEREO = "pan=stereo|c0=c0|c1=c0"  # the mono voice in both channels at full level
_MEASURE = "ebur128@{name}=framelog=quiet,anullsink"


def voice_filtergraph(pieces: Sequence[tuple[PathLike | None, int]], s: VideoSettings, *, music_input: int | None) -> str:
    """Pass 1: the voice track (``[voice]``, mono s16) measured as stereo; the looped bed measured.

    ``music_input`` is the bed's input number (after the line files), or None without music.
    """
    samples = sum(n for _, n in pieces)
    graph = assemble_filtergraph(pieces, s).replace("[aout]", "[vall]")
    graph += f";[vall]asplit=2[voice][vm];[vm]{_STEREO},{_MEASURE.format(name='voice')}"
    if music_input is not None:
        graph += f";{_music_chain(music_input, samples, s)},{_MEASURE.format(name='music')}"
    return graph


def voice_argv(pieces: Sequence[tuple[PathLike | None, int]], music: PathLike | None, out_wav: PathLike, *, graph: str, graph_path: PathLike | None = None) -> list[str]:
    """argv of pass 1: line files (then the bed) in, the voice as a mono s16 WAV out.

    ``-loglevel info`` (after the runner's ``error``; the last one wins) lets the ``ebur128``
    summaries through to stderr.
    """
    argv = ["-loglevel", "info", "-nostats"]
    for path, _ in pieces:
        if path is not None:
            argv += ["-i", path_arg(path)]
    if music is not None:
        argv += ["-i", path_arg(music)]
    argv += ["-filter_complex", graph] if graph_path is None else ["-/filter_complex", os.fspath(graph_path)]
    return [*argv, "-map", "[voice]", "-c:a", "pcm_s16le", "-f", "wav", path_arg(out_wav)]


def duck_expression(spans: Sequence[tuple[float, float]], mix: AudioMix) -> str:
    """The bed's gain over time (``volume`` filter, ``eval=frame``): 1 where nobody speaks,
    ``-duck`` dB during every line, linear ramps ``attack`` before and ``release`` after.

    Ramps of neighbouring lines add up (capped at full depth), so in a short pause the bed
    comes back only part of the way.
    """
    if not spans or mix.duck <= 0:
        return "1"
    terms = [
        f"clip((t-{a - mix.attack:.4f})/{mix.attack:g},0,1)*clip(({b + mix.release:.4f}-t)/{mix.release:g},0,1)"
        for a, b in spans
    ]
    return f"pow(10,-{mix.duck / 20:.4f}*min(1,{'+'.join(terms)}))"


def _limiter(mix: AudioMix) -> str:
    ceiling = 10 ** ((mix.true_peak - PEAK_MARGIN) / 20)
    # level=disabled: no make-up gain to 0 dBFS; latency=1: output aligned and of equal length.
    return f"alimiter=limit={ceiling:.6f}:attack=5:release=50:level=disabled:latency=1"


def mix_filtergraph(
    samples: int,
    s: VideoSettings,
    mix: AudioMix,
    *,
    spans: Sequence[tuple[float, float]],
    music_gain: float | None,
    gain: float,
) -> str:
    """Pass 2: input 0 the voice WAV, input 1 the bed (when ``music_gain`` is not None).

    The bed gets ``music_gain`` dB, its fades and the ducking; the sum gets ``gain`` dB and the
    limiter when a loudness target is set. Output ``[mix]``, measured as ``ebur128@mix``.
    """
    chains = [f"[0:a]{_STEREO}[v]"]
    last = "v"
    if music_gain is not None:
        seconds = samples / s.audio_rate
        fade_in, fade_out = min(mix.fade_in, seconds / 4), min(mix.fade_out, seconds / 4)
        bed = [_music_chain(1, samples, s)]
        if fade_in > 0:
            bed.append(f"afade=t=in:d={fade_in:.3f}")
        if fade_out > 0:
            bed.append(f"afade=t=out:st={seconds - fade_out:.4f}:d={fade_out:.3f}")
        bed.append(f"volume={_db(music_gain)}")
        duck = duck_expression(spans, mix)
        if duck != "1":
            bed.append(f"asetnsamples=n={DUCK_STEP}:p=0,volume=eval=frame:volume='{duck}'")
        chains.append(",".join(bed) + "[m]")
        chains.append("[v][m]amix=inputs=2:duration=first:dropout_transition=0:normalize=0[sum]")
        last = "sum"
    tail = [] if mix.loudness is None else [f"volume={_db(gain)}", _limiter(mix)]
    tail.append("asplit=2[mix][mm]")
    chains.append(f"[{last}]" + ",".join(tail))
    chains.append(f"[mm]{_MEASURE.format(name='mix')}")
    return ";".join(chains)


def mix_argv(voice_wav: PathLike, music: PathLike | None, out_wav: PathLike, *, graph: str) -> list[str]:
    """argv of pass 2: the voice WAV (and the bed) in, the mix as a float stereo WAV out."""
    argv = ["-loglevel", "info", "-nostats", "-i", path_arg(voice_wav)]
    if music is not None:
        argv += ["-i", path_arg(music)]
    return [*argv, "-filter_complex", graph, "-map", "[mix]", "-c:a", "pcm_f32le", "-f", "wav", path_arg(out_wav)]


def finish_argv(mix_wav: PathLike, s: VideoSettings, mix: AudioMix, out_path: PathLike, *, correction: float) -> list[str]:
    """argv of pass 3: ``correction`` dB and the limiter (if normalising), then stereo AAC.

    The ``fast`` AAC coder: a third of the default twoloop coder's CPU, and FFmpeg's own
    choice of default for bitrates of 128k and up when it added it.
    """
    af = [] if mix.loudness is None else ["-af", f"volume={_db(correction)},{_limiter(mix)}"]
    return [
        "-i", path_arg(mix_wav), *af,
        "-c:a", "aac", "-aac_coder", "fast", "-b:a", s.audio_bitrate, "-ar", str(s.audio_rate), "-ac", "2",
        "-f", "mp4", path_arg(out_path),
    ]


def gains(mix: AudioMix, voice: Loudness, music: Loudness | None) -> tuple[float | None, float]:
    """(the bed's gain, the master gain) in dB for pass 2, from pass 1's measurements.

    The bed sits ``music_volume`` LU under the voice; the master gain takes the voice to the
    target (the bed adds little where the voice speaks; pass 3 corrects the rest). A silent
    voice or bed is not raised (clamped gains, no division by silence).
    """
    music_gain = None
    if music is not None:
        music_gain = 0.0 if music.integrated <= SILENT else _clamp(voice.integrated + mix.music_volume - music.integrated)
    gain = 0.0 if mix.loudness is None or voice.integrated <= SILENT else _clamp(mix.loudness - voice.integrated)
    return music_gain, gain


def correction(mix: AudioMix, measured: Loudness) -> float:
    """Pass 3's gain: what pass 2 missed of the target (0 without a target or for silence)."""
    if mix.loudness is None or measured.integrated <= SILENT:
        return 0.0
    return _clamp(mix.loudness - measured.integrated)


# --------------------------------------------------------------------------- reading ebur128

_SUMMARY = re.compile(
    r"\[(?:Parsed_)?ebur128(?:@(?P<name>\w+))?[^\]]*\] Summary:\s*"
    r"Integrated loudness:\s*I:\s*(?P<i>-?[\d.]+|-?inf) LUFS.*?"
    r"Loudness range:\s*LRA:\s*(?P<lra>-?[\d.]+) LU"
    r"(?:.*?True peak:\s*Peak:\s*(?P<tp>-?[\d.]+|-?inf) dBFS)?",
    re.DOTALL,
)


def parse_loudness(stderr: str) -> dict[str, Loudness]:
    """Every ``ebur128`` summary in ffmpeg's stderr, by filter name (``ebur128@voice`` ->
    ``voice``; an unnamed filter -> ``""``). Raises MediaError when there is none."""
    out: dict[str, Loudness] = {}
    for m in _SUMMARY.finditer(stderr):
        tp = m.group("tp")
        out[m.group("name") or ""] = Loudness(float(m.group("i")), float(m.group("lra")), float(tp) if tp else None)
    if not out:
        tail = "\n".join(stderr.strip().splitlines()[-5:])
        raise MediaError(f"no loudness measurement in ffmpeg's output: {tail}")
    return out


# --------------------------------------------------------------------------- where music comes from


def bundled_music(name: str) -> Path:
    """The music bed shipped with vidflow by that name (``gentle``): ``vidflow:<name>`` in a recipe."""
    path = _BUNDLED / f"{name}.ogg"
    if not re.fullmatch(r"[a-z0-9_-]+", name) or not path.is_file():
        have = ", ".join(sorted(f"vidflow:{p.stem}" for p in _BUNDLED.glob("*.ogg")))
        raise MediaError(f"no bundled music `vidflow:{name}` (bundled: {have})")
    return path


def music_files(folder: PathLike) -> list[Path]:
    """The audio files directly in ``folder``, sorted by name (what :func:`pick_music` picks from)."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in MUSIC_EXTENSIONS)


#: Container signatures at the start of an audio file: WAV (RIFF/RF64/BW64), FLAC, Ogg (Vorbis,
#: Opus), ADIF AAC, an ID3 tag (MP3, AAC); an MP4/M4A has ``ftyp`` at offset 4.
_AUDIO_MAGIC = (b"RIFF", b"RIFX", b"RF64", b"BW64", b"fLaC", b"OggS", b"ADIF", b"ID3")


def not_audio(path: PathLike) -> str | None:
    """Why ``path`` is plainly not an audio file (empty; no container signature and no MPEG/ADTS
    frame sync in its first 4 KiB, as in a text file renamed ``.mp3``), or None. A cheap sniff
    at load time, no process started: anything ffmpeg might read passes."""
    with open(path, "rb") as f:
        head = f.read(4096)
    if not head:
        return "the file is empty"
    if head.startswith(_AUDIO_MAGIC) or head[4:8] == b"ftyp":
        return None
    # MP3 and ADTS AAC frames start with 11 set bits (0xFF then 0b111xxxxx); text never holds 0xFF
    at = head.find(b"\xff")
    while at != -1 and at + 1 < len(head):
        if head[at + 1] & 0xE0 == 0xE0:
            return None
        at = head.find(b"\xff", at + 1)
    return "no audio header in its first bytes"


def pick_music(files: Sequence[Path], topic_id: str) -> Path:
    """One file per topic, the same on every run and machine: sha256 of the topic id, modulo
    the number of files (sorted by name). Adding or removing a file re-deals the topics."""
    if not files:
        raise MediaError("no music files to pick from")
    n = int.from_bytes(hashlib.sha256(topic_id.encode()).digest()[:8], "big")
    return files[n % len(files)]


@functools.lru_cache(maxsize=64)
def _digest(path: str, size: int, mtime_ns: int, inode: int) -> str:
    return file_sha256(path)  # cached by the file's identity: a changed file is hashed again


def music_digest(path: PathLike) -> str:
    """sha256 of a music file: what enters the audio node's key (never the path).

    Remembered per (path, size, mtime, inode), like ``make`` and git's index, so a batch of
    topics on one bed hashes it once (``_digest.cache_clear()`` resets it).
    """
    p = os.fspath(Path(path).resolve())
    st = os.stat(p)
    return _digest(p, st.st_size, st.st_mtime_ns, st.st_ino)
