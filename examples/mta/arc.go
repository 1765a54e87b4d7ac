package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/exigo-mta/exigo/acl"
	"github.com/exigo-mta/exigo/arc"
	"github.com/exigo-mta/exigo/transport"
	"github.com/exigo-mta/exigo/transport/smtp"
)

// ARC (-arc-sign), wired as Exim's experimental ARC support suggests:
//
//   - the data ACL verifies the ARC chain of every message ("verify =
//     arc/none:fail:pass"), removes Authentication-Results fields that
//     claim to come from our ADMD (RFC 8601 section 5: only we may write
//     them), and adds ours at the top: "Authentication-Results: ADMD;
//     arc=STATE ..." (Exim's ${authresults {ADMD}});
//   - the remote smtp transports seal what they send (arc_sign = ADMD :
//     SELECTOR : KEY): an ARC-Authentication-Results copied from our
//     Authentication-Results, an ARC-Message-Signature and an ARC-Seal.
//
// The ADMD is also the signing domain d=, as in Exim. When the key file
// does not exist, an RSA-2048 key is generated into it and the TXT
// record to publish at SELECTOR._domainkey.ADMD is logged.

// arcSetup is the ARC part of the configuration: nil when -arc-sign is
// not given.
type arcSetup struct {
	admd   string
	signer *arc.Signer
}

// newARC parses the -arc-sign value (Exim's arc_sign syntax).
func newARC(cfg config, logger *slog.Logger) (*arcSetup, error) {
	if cfg.arcSign == "" {
		return nil, nil
	}
	generated := ""
	readKey := func(name string) ([]byte, error) {
		b, err := os.ReadFile(name)
		if errors.Is(err, fs.ErrNotExist) {
			generated = name
			return generateARCKey(name)
		}
		return b, err
	}
	s, err := arc.ParseSignSpec(cfg.arcSign, readKey)
	if err != nil {
		return nil, fmt.Errorf("arc-sign: %w", err)
	}
	if generated != "" {
		pub, err := x509.MarshalPKIXPublicKey(s.Key.Public())
		if err != nil {
			return nil, fmt.Errorf("arc-sign: %w", err)
		}
		domain := cmp.Or(s.Domain, s.ADMD)
		logger.Info("generated an ARC signing key", "file", generated,
			"publish", s.Selector+"._domainkey."+domain+` TXT "v=DKIM1; k=rsa; p=`+base64.StdEncoding.EncodeToString(pub)+`"`)
	}
	s.Logger = logger
	return &arcSetup{admd: s.ADMD, signer: s}, nil
}

// generateARCKey writes a new RSA-2048 key in PKCS#8 PEM to name.
func generateARCKey(name string) ([]byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		return nil, fmt.Errorf("arc key: %w", err)
	}
	if err := os.WriteFile(name, b, 0o600); err != nil {
		return nil, fmt.Errorf("arc key: %w", err)
	}
	return b, nil
}

// dataRules returns the data ACL rules: verify, drop forged
// Authentication-Results of our ADMD, add ours.
func (a *arcSetup) dataRules() acl.List {
	if a == nil {
		return nil
	}
	authres := acl.ConditionFunc(func(ctx context.Context, tx *acl.Tx) (bool, error) {
		h := &tx.Message.Header
		fields := h.FieldsByKey("Authentication-Results")
		for fields.Next() {
			id, _, _ := strings.Cut(fields.Value(), ";")
			if strings.EqualFold(strings.TrimSpace(id), a.admd) {
				fields.Del()
			}
		}
		field := arc.AuthResultsHeader(a.admd, tx.Message)
		field = strings.ReplaceAll(strings.TrimSuffix(field, "\r\n"), "\r\n", "\n")
		tx.Edits.Add = append(tx.Edits.Add, acl.AddedHeader{Field: field, Position: acl.AtStart})
		return true, nil
	})
	return acl.List{{Verb: acl.Warn, Conditions: []acl.Condition{arc.Verify(arc.None, arc.Fail, arc.Pass), authres}}}
}

// sign adds the signer to every smtp transport of ts.
func (a *arcSetup) sign(ts map[string]transport.Transport) {
	if a == nil {
		return
	}
	signers := []transport.HeaderSigner{a.signer}
	for _, t := range ts {
		switch t := t.(type) {
		case *smtp.Transport:
			t.Signers = signers
		case srsSMTP:
			t.inner.Signers = signers
		}
	}
}
