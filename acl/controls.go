package acl

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
)

// ErrUnknownControl is wrapped by the error for a control name that is not
// registered.
var ErrUnknownControl = errors.New("unknown control")

// ControlDef describes a named control, the argument of Exim's
// "control =" modifier.
type ControlDef struct {
	// Name is the control's name, e.g. "bmi_run" or "freeze": letters,
	// digits and underscores.
	Name string
	// Stages are the stages at which the control may be used; empty
	// means all. Using it elsewhere is an error when the modifier runs
	// (the list defers), as in Exim.
	Stages []Stage
	// Check validates the control's options (what follows "/" in Exim's
	// syntax) when a modifier is built. Nil accepts only the empty value.
	Check func(value string) error
	// Apply, if not nil, is called when the modifier runs, after the value
	// has been recorded in Tx.Controls.
	Apply func(ctx context.Context, tx *Tx, value string) error
}

// Controls is a registry of named controls. Packages register the
// controls they implement (the smtpd package "freeze" or "no_pipelining",
// the bmi package "bmi_run", ...); configurations then build control
// modifiers by name, and an unknown name or a bad value is an error when
// the modifier is built, not when it runs. The zero value is an empty
// registry ready to use; a Controls is safe for concurrent use.
type Controls struct {
	mu   sync.RWMutex
	defs map[string]ControlDef
}

// Register adds a control. Registering a name twice is an error.
func (c *Controls) Register(d ControlDef) error {
	if !isVarName(d.Name) {
		return fmt.Errorf("acl: invalid control name %q", d.Name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.defs[d.Name]; dup {
		return fmt.Errorf("acl: control %q registered twice", d.Name)
	}
	if c.defs == nil {
		c.defs = make(map[string]ControlDef)
	}
	d.Stages = slices.Clone(d.Stages)
	c.defs[d.Name] = d
	return nil
}

// Names returns the registered control names, sorted.
func (c *Controls) Names() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	names := make([]string, 0, len(c.defs))
	for n := range c.defs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Control builds the modifier "control = name/value". When it runs it
// records Tx.Controls[name] = value (creating the map) and calls the
// control's Apply.
func (c *Controls) Control(name, value string) (Action, error) {
	c.mu.RLock()
	d, ok := c.defs[name]
	c.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("acl: control %q: %w", name, ErrUnknownControl)
	}
	if d.Check == nil {
		if value != "" {
			return nil, fmt.Errorf("acl: control %q takes no options (got %q)", name, value)
		}
	} else if err := d.Check(value); err != nil {
		return nil, fmt.Errorf("acl: control %q: %w", name, err)
	}
	return actionFunc(func(ctx context.Context, tx *Tx) error {
		if len(d.Stages) > 0 && !slices.Contains(d.Stages, tx.Stage) {
			return fmt.Errorf("acl: cannot use control %q at the %s stage", name, tx.Stage)
		}
		if tx.Controls == nil {
			tx.Controls = make(map[string]string)
		}
		tx.Controls[name] = value
		if d.Apply != nil {
			if err := d.Apply(ctx, tx, value); err != nil {
				return fmt.Errorf("acl: control %q: %w", name, err)
			}
		}
		return nil
	}), nil
}

// Parse builds a control modifier from Exim's syntax, "name" or
// "name/options" (e.g. "freeze/no_tell").
func (c *Controls) Parse(spec string) (Action, error) {
	name, value, _ := strings.Cut(strings.TrimSpace(spec), "/")
	return c.Control(name, value)
}
