// Package keys holds Keyway's access-token signing keys: RSA key material
// with RFC 7638 thumbprint key IDs, a rotating [Ring] that publishes the
// current and not-yet-retired keys as a JWKS document (served at
// GET /sso/jwks/:client_id), encrypted-at-rest storage of the ring behind a
// small [Store] interface, and RS256 signing and strict verification of
// WorkOS-shaped access tokens.
//
// Nothing in this package reads the clock: every time-dependent operation
// takes the current time as an argument.
package keys
