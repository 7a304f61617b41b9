// Placeholder while the radiology viewer is being built in this session.
export async function show(root) {
  root.innerHTML = '<p class="muted">The radiology viewer is being built.</p>';
}
