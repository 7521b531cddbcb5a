// Sets the cookie that tells the server whose models this browser's are (latent_explorer/components.py,
// remember_owner): first-party, since v2 components live in the page itself rather than an iframe.

export default function ({data}) {
  if (data && data.name && data.token) {
    document.cookie = `${data.name}=${data.token}; path=/; max-age=${data.max_age}; SameSite=Lax`;
  }
}
