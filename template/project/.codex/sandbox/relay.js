// cxgen's API relay, a ChatGPT sign-in's part (njs, nginx's own JavaScript): the sign-in's
// tokens stay here, in the relay's folder, which no agent can enter. The agent's codex holds
// placeholders; its requests get the current access token (bearer, account), and its refresh
// (codex's CODEX_REFRESH_TOKEN_URL_OVERRIDE points here) is made here with the real refresh token:
// the new tokens are kept (STATE, for the next requests; OUT, for the run script to update your
// host's login after the session), and the agent gets placeholders back. See relay.sh.

const fs = require('fs');

const STATE = '/var/lib/cxgen-relay/chatgpt.json';
const OUT = '/var/lib/cxgen-relay/out/chatgpt.json';
const LOCK = '/var/lib/cxgen-relay/run/refresh.lock';
const PLACEHOLDER = 'cxgen-relayed-key';
// codex's own OAuth client (public).
const CLIENT_ID = 'app_EMoamEEZ73f0CkXaXp7hrann';
const TOKEN_RE = /^[A-Za-z0-9._~+\/=-]{1,8192}$/;

function state() {
    return JSON.parse(fs.readFileSync(STATE, 'utf8'));
}

// $relay_chatgpt_bearer, $relay_chatgpt_account: the sign-in's, as it is now ('' when none,
// and the upstream refuses the request).
function bearer(r) {
    try {
        return 'Bearer ' + state().access;
    } catch (e) {
        return '';
    }
}

function account(r) {
    try {
        return state().account;
    } catch (e) {
        return '';
    }
}

// A refresh, made here, one at a time (a refresh token is spent by its use: two at once would
// lose the sign-in), for codex's own OAuth client whatever the agent names. Never answered with
// 401 (codex would retry it in a loop): a failure is 502, after which codex goes on with the
// token it has.
async function refresh(r) {
    let current;
    try {
        current = state();
    } catch (e) {
        return failed(r, 'no sign-in to refresh');
    }
    if (!lock()) {
        // Another refresh is under way (codex asks from more than one task at once): its
        // answer serves this one too, and no refresh token is spent twice.
        for (let i = 0; i < 300 && locked(); i++) {
            await sleep(100);
        }
        try {
            return answer(r, state());
        } catch (e) {
            return failed(r, 'no sign-in to refresh');
        }
    }
    try {
        await refreshed(r, current);
    } finally {
        unlock();
    }
}

function sleep(ms) {
    return new Promise(function (resolve) {
        setTimeout(resolve, ms);
    });
}

function locked() {
    try {
        fs.readFileSync(LOCK);
        return true;
    } catch (e) {
        return false;
    }
}

// What codex gets back: placeholders for the sign-in as it is now.
function answer(r, now) {
    r.headersOut['Content-Type'] = 'application/json';
    r.return(200, JSON.stringify({
        access_token: unsigned(now.access),
        refresh_token: PLACEHOLDER,
        id_token: unsigned(now.id),
    }));
}

async function refreshed(r, current) {
    let reply, fresh;
    try {
        reply = await ngx.fetch(r.variables.relay_token_url, {
            method: 'POST',
            headers: {'Content-Type': 'application/json'},
            body: JSON.stringify({
                client_id: CLIENT_ID,
                grant_type: 'refresh_token',
                refresh_token: current.refresh,
            }),
        });
        // (Awaited on a line of its own: njs 0.7 crashes on an await inside a call's arguments.)
        const text = await reply.text();
        fresh = JSON.parse(text);
    } catch (e) {
        return failed(r, 'the token endpoint did not answer over verified TLS: ' + e.message);
    }
    if (reply.status !== 200 || !TOKEN_RE.test(fresh.access_token || '')) {
        return failed(r, 'the token endpoint refused the refresh (' + reply.status + ')');
    }
    const refresh = TOKEN_RE.test(fresh.refresh_token || '') ? fresh.refresh_token : current.refresh;
    // The refresh tokens this relay was given and has had since, newest last: the run script
    // updates your login only when it holds one of them (the same sign-in, not a newer one).
    const chain = (current.chain || current.given || current.refresh).split(' ');
    if (chain[chain.length - 1] !== refresh) {
        chain.push(refresh);
    }
    const next = {
        access: fresh.access_token,
        refresh: refresh,
        chain: chain.slice(-50).join(' '),
        id: TOKEN_RE.test(fresh.id_token || '') ? fresh.id_token : current.id,
        account: current.account,
    };
    fs.writeFileSync(STATE + '.new', JSON.stringify(next), {mode: 0o600});
    fs.renameSync(STATE + '.new', STATE);
    fs.writeFileSync(OUT, JSON.stringify({
        chain: next.chain,
        access_token: next.access,
        refresh_token: next.refresh,
        id_token: next.id,
    }));
    answer(r, next);
}

// The refresh lock: a file made only if missing; one older than a minute was left by a crash.
function lock() {
    const now = Date.now();
    try {
        fs.writeFileSync(LOCK, String(now), {flag: 'wx', mode: 0o600});
        return true;
    } catch (e) {
        let since = 0;
        try {
            since = Number(fs.readFileSync(LOCK, 'utf8')) || 0;
        } catch (e2) {
            // Gone meanwhile: the other refresh is over.
        }
        if (now - since < 60000) {
            return false;
        }
        fs.writeFileSync(LOCK, String(now), {mode: 0o600});
        return true;
    }
}

function unlock() {
    try {
        fs.unlinkSync(LOCK);
    } catch (e) {
        // Already gone.
    }
}

// A JWT's header and claims without its signature (codex reads the expiry and the account from
// them; unsigned, they are no credential); the placeholder for anything else.
function unsigned(token) {
    const parts = token.split('.');
    return parts.length === 3 && parts[0] && parts[1] ? parts[0] + '.' + parts[1] + '.cxgen' : PLACEHOLDER;
}

function failed(r, why) {
    r.headersOut['Content-Type'] = 'application/json';
    r.return(502, JSON.stringify({error: 'cxgen relay: ' + why}));
}

export default {bearer, account, refresh};
