// Placeholder while the viewer page is being built in this session.
export async function render(root) {
  root.innerHTML = '<p class="muted">The viewer page is being built.</p>';
}
