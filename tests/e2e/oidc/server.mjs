// A real OpenID Connect provider for the sign-in browser test (tests/e2e/test_login.py):
// panva's oidc-provider (pinned in package.json, installed by `npm ci`), on 127.0.0.1 only.
// Its development interactions show a login form (any login name, any password) and a consent
// form; the login name is the account, whose email claim is that name (verified).
//
// Environment: OIDC_PORT, OIDC_REDIRECT_URI (the app's /oauth2callback), OIDC_CLIENT_ID, OIDC_CLIENT_SECRET.
// Prints "ready <issuer>" on stdout once it listens.
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT);
const issuer = `http://127.0.0.1:${port}`;
const redirect = process.env.OIDC_REDIRECT_URI;

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.OIDC_CLIENT_ID,
    client_secret: process.env.OIDC_CLIENT_SECRET,
    redirect_uris: [redirect],
    post_logout_redirect_uris: [new URL('/', redirect).toString()],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: id, email_verified: true, name: id.split('@')[0] };
      },
    };
  },
  // the email claims in the ID token itself, as Google and Microsoft sign-in give them (Streamlit reads
  // st.user from the ID token)
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['clm-e2e-only-not-a-secret'] },
});
provider.listen(port, '127.0.0.1', () => console.log(`ready ${issuer}`));
