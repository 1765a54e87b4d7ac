package main

import (
	"context"
	"crypto/subtle"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/lookup"
	"github.com/exigo-mta/exigo/smtpd"
)

// fileAuth checks AUTH PLAIN and LOGIN passwords against an lsearch file
// of "user: password" lines. Passwords are stored in clear: this is an
// example; a real deployment would use a Dovecot auth socket or hashes.
type fileAuth struct {
	users *lookup.File
}

func (a fileAuth) Authenticate(ctx context.Context, _ *exigo.Session, _, _, user, pass string) (string, error) {
	want, found, err := a.users.Lookup(ctx, user)
	if err != nil {
		return "", err
	}
	if !found || subtle.ConstantTimeCompare([]byte(want), []byte(pass)) != 1 {
		return "", smtpd.ErrAuthFailed
	}
	return user, nil
}
