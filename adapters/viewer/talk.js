// dyad talk page: one or two people allow the microphone, their voices go to dyad over WebRTC (a
// WHIP POST of the offer to /whip), and the pose frames that come back on the "dyad-frames" data
// channel drive the viewer (viewer.js). The page doubles as the browser example of a WHIP client.
//
// URL options: ?people=1|2 (default 1), ?person=0|1 (with one person: whose avatar the voice
// drives, default 0), ?auto=1 (start without the button; for kiosks and tests).
// window.dyadTalk holds the connection state and counters (read by tests).

const params = new URLSearchParams(location.search);
const talk = (window.dyadTalk = { state: "idle", frames: 0, meta: null, jawOpen: [[], []], error: null });
const FACE_JAW_OPEN = 17; // canonical Live Link order (docs/engines.md)

// ---- frame packets: u32 part count, then (u32 length, bytes) per part; parts as the ZeroMQ sink's ----
function unpack(buffer) {
  const view = new DataView(buffer);
  const count = view.getUint32(0, true);
  const parts = [];
  let offset = 4;
  for (let i = 0; i < count; i += 1) {
    const size = view.getUint32(offset, true);
    offset += 4;
    parts.push(new Uint8Array(buffer, offset, size));
    offset += size;
  }
  return parts;
}

const text = new TextDecoder();
const floats = (part) => new Float32Array(part.slice().buffer); // little-endian float32, copied to align

function onPacket(buffer) {
  const parts = unpack(buffer);
  const topic = text.decode(parts[0]);
  if (topic === "meta") {
    talk.meta = JSON.parse(text.decode(parts[1]));
    window.dyadViewer.onSkeleton(talk.meta);
    return;
  }
  // A frame: pose.pN (topic, header, root, rotations) then face.pN (topic, header, face), per person.
  const people = [];
  let header = null;
  for (let i = 0; i < parts.length; ) {
    const name = text.decode(parts[i]);
    header = JSON.parse(text.decode(parts[i + 1]));
    if (name.startsWith("pose.")) {
      people[header.person] = { person: header.person, root: Array.from(floats(parts[i + 2])), rotations: Array.from(floats(parts[i + 3])), speaking: header.speaking };
      i += 4;
    } else {
      people[header.person].face = Array.from(floats(parts[i + 2]));
      i += 3;
    }
  }
  talk.frames += 1;
  people.forEach((p, n) => talk.jawOpen[n].push(p.face[FACE_JAW_OPEN]));
  const latency = (header.send_ns - header.capture_ns) / 1e6;
  window.dyadViewer.onFrame({ type: "frame", index: header.seq, fps: header.fps, latency_ms: latency, fallback: header.fallback, people });
}

// ---- WHIP ---------------------------------------------------------------------------------
async function microphones(count) {
  const constraints = { echoCancellation: false, noiseSuppression: false, autoGainControl: false };
  const first = await navigator.mediaDevices.getUserMedia({ audio: constraints });
  if (count === 1) return [first.getAudioTracks()[0]];
  // Two people on one machine: two input devices if there are two, else the same one twice.
  const inputs = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "audioinput");
  const other = inputs.find((d) => d.deviceId !== first.getAudioTracks()[0].getSettings().deviceId);
  const second = other ? await navigator.mediaDevices.getUserMedia({ audio: { ...constraints, deviceId: { exact: other.deviceId } } }) : first.clone();
  return [first.getAudioTracks()[0], second.getAudioTracks()[0]];
}

function iceGathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve());
    setTimeout(resolve, 3000); // WHIP without trickle: send what was gathered by then
  });
}

async function start(count, person) {
  talk.state = "asking for the microphone";
  const tracks = await microphones(count);
  const pc = new RTCPeerConnection();
  for (const track of tracks) pc.addTransceiver(track, { direction: "sendonly" });
  const channel = pc.createDataChannel("dyad-frames", { ordered: false, maxRetransmits: 0 });
  channel.binaryType = "arraybuffer";
  channel.onmessage = (event) => onPacket(event.data);
  channel.onopen = () => (talk.state = "live");
  await pc.setLocalDescription(await pc.createOffer());
  await iceGathered(pc);
  talk.state = "connecting";
  const query = count === 1 ? `?person=${person}` : "";
  const response = await fetch(`/whip${query}`, { method: "POST", headers: { "Content-Type": "application/sdp" }, body: pc.localDescription.sdp });
  if (response.status !== 201) throw new Error(`WHIP ${response.status}: ${(await response.text()).trim()}`);
  talk.resource = response.headers.get("Location");
  await pc.setRemoteDescription({ type: "answer", sdp: await response.text() });
  pc.onconnectionstatechange = () => (talk.connection = pc.connectionState);
  window.addEventListener("beforeunload", () => fetch(talk.resource, { method: "DELETE", keepalive: true }));
  talk.pc = pc;
}

function controls() {
  const bar = document.querySelector("header");
  const button = document.createElement("button");
  const people = Number(params.get("people") || 1);
  const person = Number(params.get("person") || 0);
  button.id = "talk";
  button.textContent = people === 2 ? "Talk (two people)" : `Talk as person ${"AB"[person]}`;
  button.onclick = () => {
    button.disabled = true;
    start(people, person).catch((error) => {
      talk.state = "failed";
      talk.error = String(error);
      button.textContent = talk.error;
    });
  };
  bar.appendChild(button);
  if (params.get("auto") === "1") button.click();
}

controls();
