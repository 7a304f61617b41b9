// Placeholder while the admin page is being built in this session.
export async function render(root) {
  root.innerHTML = '<p class="muted">The admin page is being built.</p>';
}
