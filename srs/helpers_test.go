package srs

import (
	"errors"
	"net"
	"time"
)

func strErrIs(err, target error) bool { return errors.Is(err, target) }

func netDial(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, time.Second) }
