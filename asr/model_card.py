"""The model card of a package: README.md written with every package (`save_package`) and printed by `asr info`.

What it says comes from the package itself: the architecture and parameter count from the model, the features,
the training facts ``asr train`` records in ``meta`` (data, hours, utterances, epochs, steps, dev WER), the decoding
settings (and the LM they were tuned with), and, where present, ``meta.results`` (measured figures),
``meta.training_data``, ``meta.limitations`` and ``meta.license``.
"""

from __future__ import annotations

from typing import Any

from asr.models.whisper_encoder import LAYERS as ENCODER_LAYERS

LICENSE = ("Apache-2.0 (the code). Training data: synthetic speech from TTS voices (espeak-ng GPL-3, flite/festival/"
           "FreeTTS BSD-style, Kokoro-82M Apache-2.0, MBROLA's diphone voices under their databases' own terms: "
           "speech made with them, not the databases, is what a model learns from) reading public-domain text; see "
           "the corpus tool.")

NORMALIZATION = {"global": "global mean and variance normalization",
                 "utterance": "each utterance's own mean subtracted (global variance)",
                 "utterance_mv": "each utterance's own mean and variance normalized"}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _direction(c: Any, frame_ms: float) -> str:
    if c.bidirectional and c.chunk_size:
        return (f"bidirectional latency-controlled (streaming: chunks of {c.chunk_size * frame_ms:g} ms, "
                f"{c.right_context * frame_ms:g} ms of right context) ")
    if c.bidirectional:
        return "bidirectional "
    return f"left-to-right (streaming, {c.lookahead * frame_ms:g} ms of look-ahead) "


def model_card(package: Any, name: str = "asr model") -> str:
    model, meta, decode = package.model, dict(package.meta or {}), dict(package.decode or {})
    c = model.config
    params = sum(p.numel() for p in model.parameters())
    frame_ms = package.features.hop_length * 1000 * c.frames_per_output
    tuned = c.encoder_trainable_layers
    how = f"its top {tuned} of {ENCODER_LAYERS} layers fine-tuned" if tuned else "frozen"
    encoder = (f"Whisper tiny.en's pretrained audio encoder ({how}; OpenAI's weights, MIT license) -> "
               if c.encoder else "")
    lines = [f"# {name}", "",
             "A CTC acoustic model of the `asr` toolkit: 80-dim log-mel features -> " + encoder
             + f"{c.num_layers} x {c.hidden_size} "
             + _direction(c, frame_ms) + f"{c.rnn.upper()}"
             + (f" with {c.projection_size}-dim projections" if c.projection_size else "")
             + f" -> {len(package.tokenizer)} characters.", "",
             "## Architecture", "",
             f"- parameters: {params / 1e6:.2f} M",
             f"- front end: {c.subsampling} subsampling x{c.subsampling_factor} ({frame_ms:g} ms output frames"
             + (f"; two 3x3 convolutions of {c.conv_channels} channels, frequency pooled to a quarter"
                if c.subsampling == "conv2d" else "") + "), "
             + ("Whisper's 4 transformer layers (384 per 20 ms) first" if c.encoder else NORMALIZATION[c.normalization])
             + (f", cepstral smoothing to {c.cepstral_smoothing} coefficients" if c.cepstral_smoothing else ""),
             f"- features: {package.features.n_mels} {'Whisper ' if package.features.kind == 'whisper' else ''}mel "
             f"bands, {package.features.win_length * 1000:g} ms window, "
             f"{package.features.hop_length * 1000:g} ms hop, {package.features.sample_rate} Hz",
             f"- tokens: {' '.join(repr(t) if t in (' ', '') else t for t in package.tokenizer.tokens)}", ""]
    lines += ["## Training", ""]
    if meta.get("training_data"):
        lines.append(f"- data: {meta['training_data']}")
    for key, label in (("train_cuts", "training manifest"), ("train_hours", "hours of training audio"),
                       ("train_utterances", "training utterances"), ("epoch", "epochs (last, 0-based)"),
                       ("global_step", "optimizer steps"),
                       ("dev_wer", f"dev WER ({meta.get('dev_decode') or 'greedy'}, at export)"),
                       ("averaged_epochs", "averaged epochs"), ("trained_by", "command")):
        if meta.get(key) is not None:
            lines.append(f"- {label}: {_fmt(meta[key])}")
    lines.append("")
    if meta.get("results"):
        lines += ["## Measured", "", "| data | decoding | WER % | CER % |", "|---|---|---|---|"]
        for row in meta["results"]:
            lines.append(f"| {row.get('data')} | {row.get('decode')} | {_fmt(row.get('wer'))} | "
                         f"{_fmt(row.get('cer'))} |")
        lines.append("")
    lines += ["## Decoding", ""]
    lines.append("- " + ", ".join(f"{k}: {_fmt(v)}" for k, v in decode.items()) if decode else "- greedy")
    lines.append("")
    if meta.get("limitations"):
        lines += ["## Not good at", "", str(meta["limitations"]), ""]
    encoder_license = (" The encoder's weights are Whisper tiny.en's (OpenAI, MIT license)." if c.encoder else "")
    lines += ["## License", "", str(meta.get("license") or LICENSE + encoder_license), ""]
    return "\n".join(lines)


def lm_card(package: Any, name: str = "asr LM") -> str:
    """The model card of an LM package (README.md, written with it; `asr info` prints it)."""
    c, meta = package.model.config, dict(package.meta or {})
    params = sum(p.numel() for p in package.model.parameters())
    lines = [f"# {name}", "",
             f"A character LSTM language model of the `asr` toolkit: {c.embed_dim}-dim embeddings -> {c.num_layers} x "
             f"{c.hidden_size} LSTM -> {c.vocab_size} characters"
             + (" (tied input and output matrices)" if c.tie_weights else "") + ". It rescores or guides the beam "
             "search of an acoustic model with the same tokens (`asr transcribe MODEL FILE --lm THIS`).", "",
             "## Facts", "", f"- parameters: {params / 1e6:.2f} M", f"- dropout: {c.dropout:g}"]
    for key, label in (("train_text", "training text"), ("train_sentences", "training sentences"),
                       ("epoch", "epochs (last, 0-based)"), ("global_step", "optimizer steps"),
                       ("dev_perplexity", "dev perplexity (per character)"), ("dev_bpc", "dev bits per character")):
        if meta.get(key) is not None:
            lines.append(f"- {label}: {_fmt(meta[key])}")
    lines += ["", "## License", "", str(meta.get("license") or "Apache-2.0 (the code); the training text's own "
                                       "licence applies to what the model learned from it."), ""]
    return "\n".join(lines)
