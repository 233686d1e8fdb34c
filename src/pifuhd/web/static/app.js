// The pifuhd web app's page: uploads, the job list, and the 3D viewer (three.js, vendored).
// Server strings are only ever put in the page as text, never as HTML.
import {
  AnimationMixer, Box3, Color, DirectionalLight, HemisphereLight, MeshStandardMaterial,
  PerspectiveCamera, Scene, SRGBColorSpace, Timer, Vector3, WebGLRenderer, GLTFLoader, OrbitControls,
} from './vendor/three.bundle.js';

const STAGES = {
  model: 'loading the model',
  load: 'finding the person',
  encode: 'predicting the normal maps',
  carve: 'fitting the body',
  grid: 'evaluating the 3D field',
  mesh: 'making the mesh',
  refine: 'refining with the normal maps',
  color: 'colouring',
  rig: 'building the avatar',
  pose_refine: 'fitting the avatar\'s pose',
  attract: 'fitting the avatar\'s surface',
  refine_sdf: 'refining the avatar',
  clips: 'animating',
  files: 'writing the files',
};
const VIEWS = { front: [0, 0, 1], side: [1, 0, 0], back: [0, 0, -1], other: [-1, 0, 0] };
const $ = (id) => document.getElementById(id);
const jobs = new Map(); // id -> {status, element}
let selected = null;
let userPicked = false; // until the user clicks a job, each finished one is shown

// ---------- the 3D viewer ----------
const canvas = $('viewer');
const renderer = new WebGLRenderer({ canvas, antialias: true, preserveDrawingBuffer: true });
renderer.outputColorSpace = SRGBColorSpace;
const scene = new Scene();
scene.background = new Color(0xdfe2e8);
const camera = new PerspectiveCamera(30, 1, 0.01, 100);
scene.add(camera);
scene.add(new HemisphereLight(0xffffff, 0x667080, 1.4));
const headlight = new DirectionalLight(0xffffff, 1.8);
headlight.position.set(0.3, 0.5, 1);
camera.add(headlight);
const controls = new OrbitControls(camera, canvas);
controls.enableDamping = true;
const timer = new Timer();
let model = null;
let mixer = null;
let actions = [];
let radius = 1;

function resize() {
  const { clientWidth: w, clientHeight: h } = canvas;
  if (canvas.width !== w || canvas.height !== h) {
    renderer.setSize(w, h, false);
    camera.aspect = w / Math.max(h, 1);
    camera.updateProjectionMatrix();
  }
}

function setView(name) {
  const dir = new Vector3(...VIEWS[name]);
  const distance = radius / Math.sin((camera.fov * Math.PI) / 360) * 1.05;
  camera.position.copy(controls.target).addScaledVector(dir, distance);
  camera.up.set(0, 1, 0);
  controls.update();
  canvas.dataset.view = name;
}

function showModel(url, clipNames) {
  return new Promise((resolve, reject) => {
    new GLTFLoader().load(url, (gltf) => {
      if (model) scene.remove(model);
      model = gltf.scene;
      model.traverse((node) => {
        if (node.isMesh && !node.geometry.getAttribute('color')) {
          node.material = new MeshStandardMaterial({ color: 0xc8c8c8, roughness: 0.8 });
        } else if (node.isMesh) {
          node.material = new MeshStandardMaterial({ vertexColors: true, roughness: 0.9 });
        }
      });
      scene.add(model);
      rememberPose();
      mixer = gltf.animations.length ? new AnimationMixer(model) : null;
      actions = gltf.animations.map((clip) => mixer.clipAction(clip));
      const box = new Box3().setFromObject(model);
      controls.target.copy(box.getCenter(new Vector3()));
      radius = box.getSize(new Vector3()).length() / 2;
      camera.near = radius / 100;
      camera.far = radius * 100;
      camera.updateProjectionMatrix();
      setView('front');
      showClips(gltf.animations.map((clip) => clip.name), clipNames);
      $('viewer-empty').hidden = true;
      canvas.dataset.loaded = '1';
      resolve();
    }, undefined, reject);
  });
}

function showClips(names) {
  const select = $('clip');
  const options = names.map((name, i) => new Option(name, String(i)));
  select.replaceChildren(...options, new Option('the photo\'s pose', '-1'));
  $('clips').hidden = names.length === 0;
  playClip(names.length ? 0 : -1);
}

function playClip(index) {
  actions.forEach((action, i) => (i === index ? action.reset().play() : action.stop()));
  if (index < 0) restorePose();
  $('play').textContent = 'Pause';
}

let photoPose = [];
function rememberPose() {
  photoPose = [];
  model.traverse((node) => {
    photoPose.push([node, node.position.clone(), node.quaternion.clone(), node.scale.clone()]);
  });
}

function restorePose() {
  for (const [node, position, quaternion, scale] of photoPose) {
    node.position.copy(position);
    node.quaternion.copy(quaternion);
    node.scale.copy(scale);
  }
}

function frame(time) {
  resize();
  timer.update(time);
  const dt = timer.getDelta();
  if (mixer && $('play').textContent === 'Pause') mixer.update(dt);
  if (model && $('spin').checked) {
    const offset = camera.position.clone().sub(controls.target);
    offset.applyAxisAngle(new Vector3(0, 1, 0), dt * 0.6);
    camera.position.copy(controls.target).add(offset);
  }
  controls.update();
  renderer.render(scene, camera);
  requestAnimationFrame(frame);
}
requestAnimationFrame(frame);

// ---------- jobs ----------
function options() {
  return new URLSearchParams({
    model: $('model').value,
    resolution: $('resolution').value,
    texture: $('texture').checked ? '1' : '0',
    mode: document.querySelector('input[name=mode]:checked').value,
  });
}

function showError(message) {
  $('error').textContent = message;
  $('error').hidden = !message;
}

async function submit(url, body, label) {
  showError('');
  let response;
  try {
    response = await fetch(url, { method: 'POST', body });
  } catch (err) {
    showError(`${label}: the server cannot be reached (${err.message})`);
    return;
  }
  const doc = await response.json();
  if (!response.ok) {
    showError(doc.error || `${label}: the server said ${response.status}`);
    return;
  }
  addJob(doc);
}

function uploadFiles(files) {
  for (const file of files) {
    const params = options();
    params.set('name', file.name);
    submit(`/api/jobs?${params}`, file, file.name);
  }
}

function addJob(status) {
  const item = document.createElement('li');
  item.dataset.job = status.id;
  const name = document.createElement('span');
  name.className = 'name';
  name.textContent = `${status.name} (${status.options.mode}, ${status.options.resolution}) `;
  const state = document.createElement('span');
  state.className = 'state';
  const bar = document.createElement('progress');
  bar.max = 1;
  bar.value = 0;
  item.append(name, state, bar);
  item.addEventListener('click', () => {
    userPicked = true;
    select(status.id);
  });
  $('jobs').append(item);
  jobs.set(status.id, { status, item });
  if (!selected) selected = status.id;
  render(status);
  poll(status.id);
}

async function poll(id) {
  const response = await fetch(`/api/jobs/${id}`);
  const status = await response.json();
  if (!response.ok) {
    jobs.get(id).item.querySelector('.state').textContent = status.error;
    return;
  }
  const before = jobs.get(id).status.state;
  jobs.get(id).status = status;
  render(status);
  const show = selected === id || !userPicked;
  if (status.state === 'done' && before !== 'done' && show) await select(id);
  if (status.state === 'failed') showError(`${status.name}: ${status.error}`);
  if (status.state === 'queued' || status.state === 'running') setTimeout(() => poll(id), 400);
}

function describe(status) {
  if (status.state === 'queued') {
    return status.position ? `waiting, ${status.position} ahead in the queue` : 'starting';
  }
  if (status.state === 'failed') return `failed: ${status.error}`;
  if (status.state === 'done') {
    const waited = status.seconds - status.work_seconds;
    return `done in ${status.work_seconds} s` + (waited > 0.5 ? ` (after ${waited.toFixed(1)} s in the queue)` : '');
  }
  const stage = status.stages.length ? status.stages[status.stages.length - 1][0] : 'model';
  let text = STAGES[stage] || stage;
  const [done, total] = status.grid;
  if (stage === 'grid' && total) {
    text += `: ${(done / 1e6).toFixed(2)}M of ${(total / 1e6).toFixed(2)}M points`;
  }
  return text;
}

function render(status) {
  const { item } = jobs.get(status.id);
  item.className = `${status.state}${selected === status.id ? ' selected' : ''}`;
  item.querySelector('.state').textContent = describe(status);
  const bar = item.querySelector('progress');
  const order = Object.keys(STAGES);
  const last = status.stages.length ? status.stages[status.stages.length - 1][0] : null;
  bar.value = status.state === 'done' ? 1 : last ? (order.indexOf(last) + 1) / order.length : 0;
  bar.hidden = status.state === 'failed';
}

async function select(id) {
  selected = id;
  const { status } = jobs.get(id);
  jobs.forEach((job) => render(job.status));
  if (status.state !== 'done') return;
  const base = `/api/jobs/${id}/files/`;
  const result = status.result;
  const links = result.downloads.map(([label, name]) => {
    const link = document.createElement('a');
    link.href = base + encodeURIComponent(name);
    link.download = name;
    link.textContent = `Download ${label}`;
    return link;
  });
  $('downloads').replaceChildren(...links);
  const captions = {
    normal_front: 'predicted front normals', normal_back: 'predicted back normals',
    body_overlay: 'fitted body over the photo',
  };
  const figures = Object.entries(result.images).map(([key, name]) => {
    const figure = document.createElement('figure');
    const img = document.createElement('img');
    img.src = base + encodeURIComponent(name);
    img.alt = captions[key];
    const caption = document.createElement('figcaption');
    caption.textContent = captions[key];
    figure.append(img, caption);
    return figure;
  });
  $('images').replaceChildren(...figures);
  const warn = result.warnings.length ? ` Warnings: ${result.warnings.join('; ')}` : '';
  $('summary').textContent = `${status.name}: ${result.vertices} vertices, ${result.faces} faces, `
    + `made in ${status.work_seconds} s.${warn}`;
  canvas.dataset.loaded = '0';
  try {
    await showModel(base + encodeURIComponent(result.viewer), result.clips);
  } catch (err) {
    showError(`${status.name}: the viewer could not show the mesh (${err.message || err})`);
  }
}

// ---------- controls ----------
async function start() {
  const config = await (await fetch('/api/config')).json();
  $('model').replaceChildren(...config.models.map((name) => new Option(name, name)));
  $('resolution').replaceChildren(...config.resolutions.map((r) => new Option(String(r), r)));
  $('resolution').value = String(config.default_resolution);
  $('files').addEventListener('change', (event) => {
    uploadFiles(event.target.files);
    event.target.value = '';
  });
  $('sample').addEventListener('click', () => submit(`/api/sample?${options()}`, '', 'sample'));
  const drop = $('drop');
  drop.addEventListener('dragover', (event) => { event.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    uploadFiles(event.dataTransfer.files);
  });
  document.querySelectorAll('#views button').forEach((button) => {
    button.addEventListener('click', () => setView(button.dataset.view));
  });
  $('clip').addEventListener('change', () => playClip(Number($('clip').value)));
  $('play').addEventListener('click', () => {
    $('play').textContent = $('play').textContent === 'Pause' ? 'Play' : 'Pause';
  });
  document.body.dataset.ready = '1';
}
start().catch((err) => showError(`the page could not start: ${err.message}`));
