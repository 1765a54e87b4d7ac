// Command arcbench supports bench/arc.sh: "gen DIR N" writes an RSA-2048
// key, its DNS file (DIR/dns.txt) and N messages sealed by three hops
// (DIR/msg/NNNN.eml, CRLF); "verify DIR [no-oldest-pass] [parallel]"
// verifies every message in one process, one after the other, with the
// arc.Verifier options named, and prints "verified N pass P in S seconds
// cpu C seconds" (wall time, then the process's user+system CPU time,
// over the verification loop only).
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/exigo-mta/exigo/arc"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: arcbench gen DIR N | arcbench verify DIR")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "gen":
		n := 1000
		if len(os.Args) > 3 {
			n, err = strconv.Atoi(os.Args[3])
		}
		if err == nil {
			err = gen(os.Args[2], n)
		}
	case "verify":
		err = verify(os.Args[2], os.Args[3:])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "arcbench:", err)
		os.Exit(1)
	}
}

func gen(dir string, n int) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	dns := arc.MapResolver{}
	var df bytes.Buffer
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("sel._domainkey.hop%d.example", i)
		dns[name] = "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
		fmt.Fprintf(&df, "%s %s\n", name, dns[name])
	}
	if err := os.MkdirAll(filepath.Join(dir, "msg"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "dns.txt"), df.Bytes(), 0o644); err != nil {
		return err
	}
	for m := range n {
		msg := []byte(fmt.Sprintf("From: Alice <alice@origin.example>\r\nTo: list@hop1.example\r\n"+
			"Subject: benchmark message %d\r\nDate: Sat, 21 Nov 2026 12:00:00 +0000\r\n"+
			"Message-ID: <%d@origin.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n", m, m))
		for l := range 40 {
			msg = fmt.Appendf(msg, "Line %d of message %d, some text to make a body of a few kilobytes.\r\n", l, m)
		}
		for hop := 1; hop <= 3; hop++ {
			admd := fmt.Sprintf("hop%d.example", hop)
			state := "pass"
			if hop == 1 {
				state = "none"
			}
			msg = append([]byte("Authentication-Results: "+admd+"; arc="+state+"; spf=pass smtp.mailfrom=alice@origin.example\r\n"), msg...)
			s := &arc.Signer{ADMD: admd, Selector: "sel", Key: key, Timestamps: true,
				Headers:  []string{"from", "to", "subject", "date", "message-id"},
				Verifier: &arc.Verifier{Resolver: dns}}
			br := bufio.NewReader(bytes.NewReader(msg))
			h, err := arc.ReadHeader(br, 0)
			if err != nil {
				return err
			}
			f, err := s.Sign(context.Background(), h, br)
			if err != nil {
				return err
			}
			msg = append(f.Bytes(), msg...)
		}
		if err := os.WriteFile(filepath.Join(dir, "msg", fmt.Sprintf("%04d.eml", m)), msg, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func verify(dir string, opts []string) error {
	f, err := os.Open(filepath.Join(dir, "dns.txt"))
	if err != nil {
		return err
	}
	dns, err := arc.ParseDNSFile(f)
	f.Close()
	if err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(dir, "msg", "*.eml"))
	if err != nil {
		return err
	}
	msgs := make([][]byte, len(files))
	for i, p := range files {
		if msgs[i], err = os.ReadFile(p); err != nil {
			return err
		}
	}
	v := &arc.Verifier{Resolver: dns}
	for _, o := range opts {
		switch o {
		case "no-oldest-pass":
			v.SkipOldestPass = true
		case "parallel":
			v.Parallel = true
		default:
			return fmt.Errorf("unknown option %q", o)
		}
	}
	pass := 0
	cpu0 := cpuTime()
	start := time.Now()
	for _, m := range msgs {
		res, err := v.Verify(context.Background(), bytes.NewReader(m))
		if err != nil {
			return err
		}
		if res.State == arc.Pass {
			pass++
		}
	}
	wall := time.Since(start)
	fmt.Printf("verified %d pass %d in %.6f seconds cpu %.6f seconds\n", len(msgs), pass, wall.Seconds(), (cpuTime() - cpu0).Seconds())
	return nil
}

// cpuTime is the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
