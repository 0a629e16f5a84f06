"""The recogniser process: both people's PocketSphinx decoders, fed over stdin, words back over stdout.

    python -m dyad.runtime.speech.sphinx_worker

PocketSphinx holds Python's global interpreter lock while it decodes (measured here:
the processing thread stalled up to 38 ms per 32 ms call on a busy 2-core machine), so a
decoder thread inside the session would delay the animator. In its own process it shares
only CPU time. Messages are pickled objects, one after another on each pipe:

  parent -> worker   SphinxSettings, people (int)                once, first
                     list[SpeechBlock]                             a batch to decode
                     None                                         stop: finish open utterances
  worker -> parent   ("ready", None) | ("error", "one line")     after loading the decoders
                     ("words", cpu_ns, samples, [(person, [(text, start_s, end_s), ...]), ...])
                                                                 one reply per batch, then one after stop

It imports pocketsphinx and numpy only (no torch), so it starts in well under a second. It runs
NICE steps below the session: where the CPU is short, the frames' deadlines win and the recogniser
falls behind, which its drop rule bounds.
"""

from __future__ import annotations

import os
import pickle
import sys
import time

NICE = 5


def _serve(read, write) -> None:
    from dyad.runtime.speech.sphinx_stream import SphinxStream

    settings, people = pickle.load(read)
    try:
        streams = [SphinxStream(p, settings) for p in range(people)]
    except Exception as error:  # the decoder's reason (missing model files, bad config) goes back as one line
        pickle.dump(("error", " ".join(str(error).split()) or type(error).__name__), write)
        write.flush()
        return
    pickle.dump(("ready", None), write)
    write.flush()
    while True:
        try:
            batch = pickle.load(read)
        except EOFError:
            return
        cpu = time.thread_time_ns()
        if batch is None:
            lines = [(s.person, s.finish()) for s in streams]
            samples = 0
        else:
            lines = [(s.person, s.feed(c.start_sample, c.audio[:, s.person], c.vad_starts, c.vad_probs[:, s.person])) for c in batch for s in streams]
            samples = sum(len(c.audio) for c in batch)
        words = [(person, [(w.text, w.start_s, w.end_s) for w in found]) for person, found in lines if found]
        pickle.dump(("words", time.thread_time_ns() - cpu, samples, words), write)
        write.flush()
        if batch is None:
            return


if __name__ == "__main__":
    os.nice(NICE)
    protocol = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything a library prints goes to stderr, never into the message stream
    _serve(sys.stdin.buffer, protocol)
