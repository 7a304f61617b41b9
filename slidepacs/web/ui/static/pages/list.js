// Placeholder while the list page is being built in this session.
export async function render(root) {
  root.innerHTML = '<p class="muted">The list page is being built.</p>';
}
