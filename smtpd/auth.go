package smtpd

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/exigo-mta/exigo"
)

// Authenticator checks the credentials of AUTH PLAIN and AUTH LOGIN (RFC
// 4954, RFC 4616). The server advertises AUTH only after STARTTLS unless
// Server.AllowInsecureAuth is set.
type Authenticator interface {
	// Authenticate checks user and pass (and the authorization identity
	// authzid, empty when not given) for mechanism mech ("PLAIN" or
	// "LOGIN"). It returns the authenticated identity ($authenticated_id;
	// user when empty). Return ErrAuthFailed for bad credentials, an
	// *exigo.SMTPError for a reply of your own, or any other error for a
	// temporary failure (454).
	Authenticate(ctx context.Context, s *exigo.Session, mech, authzid, user, pass string) (authID string, err error)
}

// AuthenticatorFunc adapts a function to an [Authenticator].
type AuthenticatorFunc func(ctx context.Context, s *exigo.Session, mech, authzid, user, pass string) (string, error)

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(ctx context.Context, s *exigo.Session, mech, authzid, user, pass string) (string, error) {
	return f(ctx, s, mech, authzid, user, pass)
}

// ErrAuthFailed is returned by an Authenticator for invalid credentials;
// the client gets 535 5.7.8.
var ErrAuthFailed = errors.New("smtpd: authentication credentials invalid")

var (
	replyAuthOK        = &exigo.SMTPError{Code: 235, Enhanced: exigo.EnhancedCode{2, 7, 0}, Message: "Authentication succeeded"}
	replyAuthFailed    = &exigo.SMTPError{Code: 535, Enhanced: exigo.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
	replyAuthTemp      = &exigo.SMTPError{Code: 454, Enhanced: exigo.EnhancedCode{4, 7, 0}, Message: "Temporary authentication failure"}
	replyAuthCancelled = &exigo.SMTPError{Code: 501, Enhanced: exigo.EnhancedCode{5, 0, 0}, Message: "Authentication cancelled"}
	replyAuthBase64    = &exigo.SMTPError{Code: 501, Enhanced: exigo.EnhancedCode{5, 5, 2}, Message: "Invalid base64 data"}
	replyAuthMech      = &exigo.SMTPError{Code: 504, Enhanced: exigo.EnhancedCode{5, 5, 4}, Message: "Unrecognized authentication mechanism"}
	replyAuthEncrypt   = &exigo.SMTPError{Code: 538, Enhanced: exigo.EnhancedCode{5, 7, 11}, Message: "Encryption required for requested authentication mechanism"}
	replyAuthSyntax    = &exigo.SMTPError{Code: 501, Enhanced: exigo.EnhancedCode{5, 5, 2}, Message: "Syntax: AUTH mechanism [initial-response]"}
	replyAuthPlainForm = &exigo.SMTPError{Code: 501, Enhanced: exigo.EnhancedCode{5, 5, 2}, Message: "Malformed PLAIN response"}
	replyAuthTwice     = &exigo.SMTPError{Code: 503, Enhanced: exigo.EnhancedCode{5, 5, 1}, Message: "Already authenticated"}
	replyAuthInTx      = &exigo.SMTPError{Code: 503, Enhanced: exigo.EnhancedCode{5, 5, 1}, Message: "AUTH not permitted during a mail transaction"}
)

// decodeSASL decodes a base64 client response; "=" is the empty response.
func decodeSASL(s string) ([]byte, bool) {
	if s == "=" {
		return nil, true
	}
	b, err := base64.StdEncoding.DecodeString(s)
	return b, err == nil
}

// parsePlain splits a PLAIN response: authzid NUL authcid NUL passwd.
func parsePlain(b []byte) (authzid, user, pass string, ok bool) {
	parts := bytes.Split(b, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 {
		return "", "", "", false
	}
	return string(parts[0]), string(parts[1]), string(parts[2]), true
}

// auth runs the AUTH command.
func (c *conn) cmdAuth(ctx context.Context, arg string) {
	s := c.srv
	switch {
	case s.Auth == nil || !c.helo || !c.sess.ESMTP:
		c.protocolError(&exigo.SMTPError{Code: 503, Enhanced: exigo.EnhancedCode{5, 5, 1}, Message: "AUTH not available"})
		return
	case c.sess.AuthID != "":
		c.protocolError(replyAuthTwice)
		return
	case c.tx != nil:
		c.protocolError(replyAuthInTx)
		return
	case c.sess.TLS == nil && !s.AllowInsecureAuth:
		c.replyErr(replyAuthEncrypt)
		return
	}
	f := strings.Fields(arg)
	if len(f) == 0 || len(f) > 2 {
		c.syntaxError(replyAuthSyntax)
		return
	}
	mech := strings.ToUpper(f[0])
	var initial string
	hasInitial := len(f) == 2
	if hasInitial {
		initial = f[1]
	}
	var authzid, user, pass string
	switch mech {
	case "PLAIN":
		resp := initial
		if !hasInitial {
			var ok bool
			if resp, ok = c.challenge(""); !ok {
				return
			}
		}
		b, ok := decodeSASL(resp)
		if !ok {
			c.replyErr(replyAuthBase64)
			return
		}
		if authzid, user, pass, ok = parsePlain(b); !ok {
			c.replyErr(replyAuthPlainForm)
			return
		}
	case "LOGIN":
		var u []byte
		if hasInitial {
			var ok bool
			if u, ok = decodeSASL(initial); !ok {
				c.replyErr(replyAuthBase64)
				return
			}
		} else {
			resp, ok := c.challenge("VXNlcm5hbWU6") // "Username:"
			if !ok {
				return
			}
			if u, ok = decodeSASL(resp); !ok {
				c.replyErr(replyAuthBase64)
				return
			}
		}
		resp, ok := c.challenge("UGFzc3dvcmQ6") // "Password:"
		if !ok {
			return
		}
		p, ok := decodeSASL(resp)
		if !ok {
			c.replyErr(replyAuthBase64)
			return
		}
		user, pass = string(u), string(p)
	default:
		c.replyErr(replyAuthMech)
		return
	}
	id, err := s.Auth.Authenticate(ctx, c.sess, mech, authzid, user, pass)
	if err != nil {
		var se *exigo.SMTPError
		switch {
		case errors.As(err, &se):
			c.replyErr(se)
		case errors.Is(err, ErrAuthFailed):
			c.replyErr(replyAuthFailed)
		default:
			c.log.Warn("authenticator failed", "mech", mech, "err", err)
			c.replyErr(replyAuthTemp)
		}
		c.log.Info("authentication failed", "mech", mech, "user", clean(user))
		return
	}
	if id == "" {
		id = user
	}
	c.sess.AuthMech = mech
	c.sess.AuthID = id
	c.log.Info("authenticated", "mech", mech, "id", clean(id))
	c.replyErr(replyAuthOK)
}

// challenge sends "334 text" and reads the client's response line. It
// reports false when the exchange ended (cancelled, too long, or the
// connection failed); the reply has been sent or the connection is closing.
func (c *conn) challenge(text string) (string, bool) {
	c.writeLine("334 " + text)
	line, tooLong, err := c.readLine()
	if err != nil {
		c.readFailed(err)
		return "", false
	}
	if tooLong {
		c.syntaxError(replyLineTooLong)
		return "", false
	}
	resp := strings.TrimSpace(string(line))
	if resp == "*" {
		c.replyErr(replyAuthCancelled)
		return "", false
	}
	return resp, true
}
