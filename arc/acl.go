package arc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/emersion/go-message/textproto"
	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/acl"
)

// ResultKey is where Condition stores the verification result on the
// message (exigo.Get(&msg.Attrs, arc.ResultKey)).
var ResultKey = exigo.NewKey[*Result]("arc.result")

// Condition is Exim's "verify = arc/<list>" for the data ACL: it
// verifies the message's chain once (later evaluations reuse the stored
// result), stores the Result on the message, sets $arc_state,
// $arc_state_reason, $arc_domains and $arc_oldest_pass, and is true when
// the state is in States.
type Condition struct {
	// States are the acceptable states; empty means none and pass (any
	// state but fail).
	States []State
	// Verifier verifies; nil means a zero Verifier.
	Verifier *Verifier
}

// Verify returns the condition "verify = arc/<states>", e.g.
// arc.Verify(arc.None, arc.Pass).
func Verify(states ...State) *Condition { return &Condition{States: states} }

// ErrNoMessage is returned when the condition is used before the data
// stage.
var ErrNoMessage = errors.New("arc: verify = arc needs a message (data ACL)")

// Eval verifies (or reuses the stored result) and tests the state.
func (c *Condition) Eval(ctx context.Context, tx *acl.Tx) (bool, error) {
	m := tx.Message
	if m == nil || m.Body == nil {
		return false, ErrNoMessage
	}
	res, ok := exigo.Get(&m.Attrs, ResultKey)
	if !ok {
		var err error
		if res, err = c.verifyMessage(ctx, m); err != nil {
			return false, err
		}
		exigo.Set(&m.Attrs, ResultKey, res)
	}
	for name, val := range Vars(res) {
		if err := tx.SetVar(name, val); err != nil {
			return false, err
		}
	}
	states := c.States
	if len(states) == 0 {
		states = []State{None, Pass}
	}
	return slices.Contains(states, res.State), nil
}

func (c *Condition) verifyMessage(ctx context.Context, m *exigo.Message) (*Result, error) {
	v := c.Verifier
	if v == nil {
		v = &Verifier{}
	}
	var hb bytes.Buffer
	if err := textproto.WriteHeader(&hb, m.Header); err != nil {
		return nil, fmt.Errorf("arc: writing header: %w", err)
	}
	h, err := ReadHeader(bufio.NewReader(&hb), v.MaxHeaderBytes)
	if errors.Is(err, ErrHeaderTooLarge) {
		return &Result{State: Fail, Reason: err.Error()}, nil
	}
	if err != nil {
		return nil, err
	}
	body, err := m.Body.Open()
	if err != nil {
		return nil, fmt.Errorf("arc: opening body: %w", err)
	}
	defer body.Close()
	return v.VerifyHeader(ctx, h, body)
}

// Vars returns Exim's ARC variables for a result: arc_state,
// arc_state_reason, arc_domains (colon-separated, instance order) and
// arc_oldest_pass.
func Vars(r *Result) map[string]string {
	return map[string]string{
		"arc_state":        string(r.State),
		"arc_state_reason": r.Reason,
		"arc_domains":      strings.Join(r.Domains, ":"),
		"arc_oldest_pass":  strconv.Itoa(r.OldestPass),
	}
}

// ParseStates parses the list of "verify = arc/<list>", e.g.
// "none:pass".
func ParseStates(list string) ([]State, error) {
	var out []State
	for _, s := range strings.Split(list, ":") {
		switch st := State(strings.ToLower(strings.TrimSpace(s))); st {
		case None, Pass, Fail:
			out = append(out, st)
		default:
			return nil, fmt.Errorf("arc: unknown ARC state %q in %q", s, list)
		}
	}
	return out, nil
}
