// AudioWorklet: the microphone at the device's rate in, 16 kHz PCM16 frames out.
// A windowed-sinc low-pass (cutoff 0.45 × the target rate) removes what would alias, then the
// filtered signal is read at the target rate with linear interpolation between two filtered samples.

/** Blackman-windowed sinc low-pass; `cutoff` in cycles per input sample; unity gain at DC. */
function lowPassTaps(cutoff, count) {
  const taps = new Float32Array(count);
  const middle = (count - 1) / 2;
  let sum = 0;
  for (let i = 0; i < count; i += 1) {
    const x = i - middle;
    const sinc = x === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * x) / (Math.PI * x);
    const phase = (2 * Math.PI * i) / (count - 1);
    const blackman = 0.42 - 0.5 * Math.cos(phase) + 0.08 * Math.cos(2 * phase);
    taps[i] = sinc * blackman;
    sum += taps[i];
  }
  return taps.map((tap) => tap / sum);
}

class Pcm16CaptureProcessor extends AudioWorkletProcessor {
  constructor({ processorOptions }) {
    super();
    const { targetRate, frameSamples } = processorOptions;
    this.step = sampleRate / targetRate; // input samples per output sample
    this.taps = this.step > 1 ? lowPassTaps(0.45 / this.step, 2 * Math.ceil(20 * this.step) + 1) : Float32Array.of(1);
    this.half = (this.taps.length - 1) / 2;
    // Input history: `half` samples of silence first, so the filter is defined from the start.
    this.input = new Float32Array(this.taps.length + 4096);
    this.filled = this.half;
    this.position = this.half; // where the next output sample lies, in input samples
    this.frameSamples = frameSamples;
    this.frame = new Int16Array(frameSamples);
    this.frameFill = 0;
    this.sumSquares = 0;
  }

  filtered(center) {
    const { input, taps } = this;
    const start = center - this.half;
    let acc = 0;
    for (let k = 0; k < taps.length; k += 1) acc += input[start + k] * taps[k];
    return acc;
  }

  append(samples) {
    if (this.filled + samples.length > this.input.length) {
      const grown = new Float32Array(2 * (this.filled + samples.length));
      grown.set(this.input.subarray(0, this.filled));
      this.input = grown;
    }
    this.input.set(samples, this.filled);
    this.filled += samples.length;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    this.append(channel);
    // Both neighbours of `position` need `half` samples of input after them.
    while (Math.floor(this.position) + 1 + this.half < this.filled) {
      const index = Math.floor(this.position);
      const fraction = this.position - index;
      const left = this.filtered(index);
      const value = fraction === 0 ? left : left + (this.filtered(index + 1) - left) * fraction;
      this.emit(value);
      this.position += this.step;
    }
    // Drop input no longer needed by the filter.
    const keepFrom = Math.min(Math.floor(this.position) - this.half, this.filled);
    if (keepFrom > 0) {
      this.input.copyWithin(0, keepFrom, this.filled);
      this.filled -= keepFrom;
      this.position -= keepFrom;
    }
    return true;
  }

  emit(value) {
    const clipped = Math.max(-1, Math.min(1, value));
    this.frame[this.frameFill] = Math.round(clipped < 0 ? clipped * 0x8000 : clipped * 0x7fff);
    this.frameFill += 1;
    this.sumSquares += clipped * clipped;
    if (this.frameFill < this.frameSamples) return;
    const pcm = this.frame.buffer; // transferred: a new frame array follows
    this.port.postMessage({ pcm, rms: Math.sqrt(this.sumSquares / this.frameSamples) }, [pcm]);
    this.frame = new Int16Array(this.frameSamples);
    this.frameFill = 0;
    this.sumSquares = 0;
  }
}

registerProcessor("pcm16-capture", Pcm16CaptureProcessor);
