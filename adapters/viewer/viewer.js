// dyad live viewer: both skeletons in 3D, a drawn face and the 52 ARKit values per person,
// who is speaking, and the stream's latency. Frames arrive over a WebSocket; the newest one is
// drawn on every animation frame, so a slow tab skips frames instead of falling behind.
import * as THREE from "three";

const COLORS = [0x4aa3ff, 0xff7a59];
const STALE_MS = 500; // no frame for this long: the stream has stopped
const LATENCY_WINDOW = 150; // frames in the rolling p95

const state = { skeleton: null, latest: null, lastArrival: 0, latencies: [], misses: 0, frames: 0, drawnIndex: -1 };
const scene = new THREE.Scene();
const canvas = document.getElementById("scene");
const renderer = new THREE.WebGLRenderer({ canvas, antialias: true, preserveDrawingBuffer: true });
const camera = new THREE.PerspectiveCamera(40, 1, 0.05, 50);
camera.position.set(0, 1.5, 4.2);
camera.lookAt(0, 0.95, 0);
scene.add(new THREE.GridHelper(6, 12, 0x333a44, 0x22272e));
const people = [0, 1].map((p) => makeFigure(COLORS[p]));

function makeFigure(color) {
  const bones = new THREE.LineSegments(new THREE.BufferGeometry(), new THREE.LineBasicMaterial({ color }));
  const joints = new THREE.Points(new THREE.BufferGeometry(), new THREE.PointsMaterial({ color, size: 0.035 }));
  scene.add(bones, joints);
  return { bones, joints };
}

// ---- skeleton and forward kinematics -------------------------------------------------------
function onSkeleton(message) {
  const count = message.joint_names.length;
  state.skeleton = {
    parents: message.parents,
    offsets: message.offsets.map(([x, y, z]) => new THREE.Vector3(x, y, z).multiplyScalar(0.01)),
    faceIndex: Object.fromEntries(message.face_names.map((name, i) => [name, i])),
    faceNames: message.face_names,
  };
  for (const figure of people) {
    figure.bones.geometry.setAttribute("position", new THREE.BufferAttribute(new Float32Array((count - 1) * 6), 3));
    figure.joints.geometry.setAttribute("position", new THREE.BufferAttribute(new Float32Array(count * 3), 3));
  }
  buildBars(message.face_names.slice(0, 52));
}

function forwardKinematics(person) {
  const { parents, offsets } = state.skeleton;
  const count = parents.length;
  const positions = new Array(count);
  const rotations = new Array(count);
  const axis = new THREE.Vector3();
  for (let j = 0; j < count; j++) {
    const r = person.rotations;
    axis.set(r[3 * j], r[3 * j + 1], r[3 * j + 2]);
    const angle = axis.length();
    const local = angle > 1e-9 ? new THREE.Quaternion().setFromAxisAngle(axis.divideScalar(angle), angle) : new THREE.Quaternion();
    const parent = parents[j];
    if (parent < 0) {
      rotations[j] = local;
      positions[j] = new THREE.Vector3(...person.root).multiplyScalar(0.01);
    } else {
      rotations[j] = rotations[parent].clone().multiply(local);
      positions[j] = offsets[j].clone().applyQuaternion(rotations[parent]).add(positions[parent]);
    }
  }
  return positions;
}

function updateFigure(figure, positions) {
  const { parents } = state.skeleton;
  const bones = figure.bones.geometry.attributes.position;
  const joints = figure.joints.geometry.attributes.position;
  let segment = 0;
  positions.forEach((p, j) => {
    joints.setXYZ(j, p.x, p.y, p.z);
    if (parents[j] >= 0) {
      const q = positions[parents[j]];
      bones.setXYZ(2 * segment, q.x, q.y, q.z);
      bones.setXYZ(2 * segment + 1, p.x, p.y, p.z);
      segment++;
    }
  });
  bones.needsUpdate = joints.needsUpdate = true;
  figure.bones.geometry.computeBoundingSphere();
  figure.joints.geometry.computeBoundingSphere();
}

// ---- face panel -----------------------------------------------------------------------------
function buildBars(names) {
  for (const p of [0, 1]) {
    const holder = document.querySelector(`#person${p} .bars`);
    holder.innerHTML = names
      .map((name) => `<div class="bar"><span>${name}</span><div class="track"><div class="fill"></div></div><span class="num">0.00</span></div>`)
      .join("");
  }
}

function updateBars(p, face) {
  const rows = document.querySelectorAll(`#person${p} .bar`);
  rows.forEach((row, i) => {
    row.querySelector(".fill").style.width = `${Math.round(Math.min(1, Math.max(0, face[i])) * 100)}%`;
    row.querySelector(".num").textContent = face[i].toFixed(2);
  });
}

function drawFace(ctx, face, color) {
  const f = (name) => face[state.skeleton.faceIndex[name]] ?? 0;
  const { width: w, height: h } = ctx.canvas;
  ctx.clearRect(0, 0, w, h);
  ctx.save();
  ctx.translate(w / 2, h / 2);
  ctx.rotate(f("HeadRoll") * Math.PI); // head angles are degrees / 180
  ctx.translate(-f("HeadYaw") * 120, f("HeadPitch") * 120);
  ctx.strokeStyle = color;
  ctx.lineWidth = 4;
  ctx.beginPath();
  ctx.ellipse(0, 0, 95, 125, 0, 0, 2 * Math.PI);
  ctx.stroke();
  for (const side of [-1, 1]) {
    const suffix = side < 0 ? "Left" : "Right";
    const open = 1 - f(`EyeBlink${suffix}`);
    const lookX = (side < 0 ? f("LeftEyeYaw") : f("RightEyeYaw")) * 60;
    ctx.beginPath();
    ctx.ellipse(side * 38, -25, 20, Math.max(1.5, 11 * open), 0, 0, 2 * Math.PI);
    ctx.stroke();
    if (open > 0.25) {
      ctx.beginPath();
      ctx.arc(side * 38 - lookX, -25, 5, 0, 2 * Math.PI);
      ctx.fillStyle = color;
      ctx.fill();
    }
    const browUp = 18 * (f("BrowInnerUp") + f(`BrowOuterUp${suffix}`)) - 14 * f(`BrowDown${suffix}`);
    ctx.beginPath();
    ctx.moveTo(side * 18, -50 - browUp);
    ctx.lineTo(side * 58, -48 - browUp * 0.8);
    ctx.stroke();
  }
  const jaw = f("JawOpen");
  const smile = (f("MouthSmileLeft") + f("MouthSmileRight")) / 2;
  const round = Math.max(f("MouthFunnel"), f("MouthPucker"));
  const stretch = (f("MouthStretchLeft") + f("MouthStretchRight")) / 2;
  const halfWidth = 34 * (1 + 0.5 * smile + 0.3 * stretch - 0.45 * round);
  const opening = 4 + 44 * jaw * (1 - 0.7 * f("MouthClose"));
  ctx.beginPath();
  ctx.moveTo(-halfWidth, 52 - 10 * smile);
  ctx.quadraticCurveTo(0, 52 - opening * 0.35, halfWidth, 52 - 10 * smile);
  ctx.quadraticCurveTo(0, 52 + opening, -halfWidth, 52 - 10 * smile);
  ctx.stroke();
  ctx.restore();
}

// ---- readouts -------------------------------------------------------------------------------
function percentile(values, q) {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function onFrame(message) {
  state.latest = message;
  state.lastArrival = performance.now();
  state.frames += 1;
  if (message.fallback) state.misses += 1;
  state.latencies.push(message.latency_ms);
  if (state.latencies.length > LATENCY_WINDOW) state.latencies.shift();
}

function updateReadouts() {
  const status = document.getElementById("status");
  if (!state.latest) return;
  const stale = performance.now() - state.lastArrival > STALE_MS;
  status.textContent = stale ? "stream stopped" : "live";
  status.className = stale ? "stopped" : "";
  const p95 = percentile(state.latencies, 0.95);
  const latency = document.getElementById("latency");
  latency.textContent = `latency p95 ${p95.toFixed(1)} ms · misses ${state.misses}`;
  latency.classList.toggle("over", state.misses > 0 && state.latest.fallback);
  document.getElementById("frame").textContent = `frame ${state.latest.index} · ${state.latest.fps} fps`;
}

// ---- loop -----------------------------------------------------------------------------------
function resize() {
  const { clientWidth: w, clientHeight: h } = canvas;
  if (canvas.width !== w || canvas.height !== h) {
    renderer.setSize(w, h, false);
    camera.aspect = w / Math.max(1, h);
    camera.updateProjectionMatrix();
  }
}

function draw() {
  resize();
  const frame = state.latest;
  if (frame && state.skeleton && frame.index !== state.drawnIndex) {
    frame.people.forEach((person, p) => {
      updateFigure(people[p], forwardKinematics(person));
      const panel = document.getElementById(`person${p}`);
      drawFace(panel.querySelector("canvas.face").getContext("2d"), person.face, `#${COLORS[p].toString(16)}`);
      updateBars(p, person.face);
      const speaking = person.speaking > 0.5;
      panel.classList.toggle("speaking", speaking);
      panel.querySelector(".speak").textContent = speaking ? "speaking" : "silent";
    });
    state.drawnIndex = frame.index;
  }
  updateReadouts();
  renderer.render(scene, camera);
  requestAnimationFrame(draw);
}

function connect() {
  const socket = new WebSocket(`ws://${location.host}/stream`);
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "skeleton") onSkeleton(message);
    else if (message.type === "frame") onFrame(message);
  };
  socket.onclose = () => setTimeout(connect, 1000); // the session may restart: keep trying
}

// The talk page (`dyad talk`) feeds frames from its WebRTC data channel instead of the WebSocket.
window.dyadViewer = { onSkeleton, onFrame };
if (!window.dyadExternalFrames) connect();
requestAnimationFrame(draw);
