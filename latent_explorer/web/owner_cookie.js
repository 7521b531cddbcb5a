// Keeps the cookie that tells the server whose models this browser's are (latent_explorer/components.py,
// remember_owner): first-party, since v2 components live in the page itself rather than an iframe.
//
// Two tabs opened at once on a first visit each come with a token of their own session. The cookie is written
// only where the browser has none, so the first write stays; a page whose session holds another token than the
// browser's reports the browser's (state "token"), and its session adopts it (latent_explorer/session.py,
// owner_token). Two tabs writing at the same moment may each read their own write back before the other's
// lands, so the page looks again every few seconds while it is open.
const OWNER_CHECK_MS = 3000;

function heldToken(name) {
  const prefix = `${name}=`;
  const cookie = document.cookie.split('; ').find((c) => c.startsWith(prefix));
  return cookie === undefined ? null : cookie.slice(prefix.length);
}

export default function ({data, setStateValue}) {
  if (!(data && data.name && data.token)) return;
  // One watch per page: Streamlit calls this again on every run that draws the component.
  const watch = window.__lxOwnerWatch || (window.__lxOwnerWatch = {reported: null, timer: null});
  Object.assign(watch, {data, setStateValue});
  const check = () => {
    const {data, setStateValue} = watch;
    if (heldToken(data.name) === null) {
      document.cookie = `${data.name}=${data.token}; path=/; max-age=${data.max_age}; SameSite=Lax`;
    }
    const held = heldToken(data.name);
    if (held !== null && held !== data.token && held !== watch.reported) {
      watch.reported = held;
      setStateValue('token', held);
    }
  };
  check();
  if (watch.timer === null) watch.timer = setInterval(check, OWNER_CHECK_MS);
  return () => {
    clearInterval(watch.timer);
    watch.timer = null;
  };
}
