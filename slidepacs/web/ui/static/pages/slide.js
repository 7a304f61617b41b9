// Placeholder while the slide viewer is being built in this session.
export async function show(root) {
  root.innerHTML = '<p class="muted">The slide viewer is being built.</p>';
}
