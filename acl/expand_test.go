package acl

import (
	"net/netip"
	"testing"

	"github.com/exigo-mta/exigo"
)

func TestExpand(t *testing.T) {
	t.Parallel()
	tx, _ := newTx(StageRcpt)
	s := tx.Session
	s.HostName = "client.example.net"
	s.AuthMech, s.AuthID, s.AuthSender = "PLAIN", "joe", "joe@example.org"
	s.TLS = &exigo.TLSInfo{Version: "TLS1.3", Cipher: "TLS1.3:TLS_AES_256_GCM_SHA384:256", SNI: "mx.example", PeerDN: "CN=client"}
	s.Vars = map[string]string{"acl_c0": "conn", "acl_c_evil": "a\r\nb\x00c\td"}
	tx.Message.Vars = map[string]string{"acl_m_score": "7"}
	tx.Message.ID = "1xUm1a-0000hS-2z"
	tx.Message.Envelope.Size = 1234
	tx.Message.Envelope.AddRecipient("a@x")
	tx.rule.verifyMessage = "Unrouteable address"
	tx.setVar("dcc_result", "accept")
	for in, want := range map[string]string{
		"":                       "",
		"plain text":             "plain text",
		"$acl_c0/${acl_m_score}": "conn/7",
		"$acl_m_score.5":         "7.5",
		"${acl_m_score}x":        "7x",
		"$acl_m_scorex":          "",
		"$sender_address":        "sender@example.org",
		"$sender_address_local_part @ $sender_address_domain": "sender @ example.org",
		"$local_part@$domain":                                                "user@example.com",
		"[$sender_host_address]:$sender_host_port":                           "[192.0.2.1]:4567",
		"$interface_address $interface_port":                                 "198.51.100.1 25",
		"$sender_host_name $sender_helo_name":                                "client.example.net client.example",
		"$sender_host_authenticated $authenticated_id $authenticated_sender": "PLAIN joe joe@example.org",
		"$received_protocol":                                                 "esmtpsa",
		"$tls_in_ver $tls_in_cipher":                                         "TLS1.3 TLS1.3:TLS_AES_256_GCM_SHA384:256",
		"$tls_in_sni $tls_in_peerdn":                                         "mx.example CN=client",
		"$message_exim_id $message_size":                                     "1xUm1a-0000hS-2z 1234",
		"$recipients_count":                                                  "1",
		"$acl_verify_message":                                                "Unrouteable address",
		"$dcc_result":                                                        "accept",
		"$unknown_variable|${nope}":                                          "|",
		"cost: $5 and $ alone and $":                                         "cost:  and $ alone and $",
		"\\$sender_address \\\\ \\n":                                         "$sender_address \\ \\n",
		"${lookup{x}lsearch{/etc/passwd}}":                                   "${lookup{x}lsearch{/etc/passwd}}",
		"${sender_address":                                                   "${sender_address",
		"${}":                                                                "${}",
		"$acl_c_evil":                                                        "a  b c\td",
		"line1\nline2 $acl_c0":                                               "line1\nline2 conn",
	} {
		if got := tx.Expand(in); got != want {
			t.Errorf("Expand(%q) = %q, want %q", in, got, want)
		}
	}
	// Variables that do not exist at a stage are empty.
	tx, _ = newTx(StageConnect)
	tx.Session.RemoteAddr = netip.MustParseAddrPort("[::ffff:192.0.2.9]:25")
	for in, want := range map[string]string{
		"[$sender_address][$local_part][$domain][$acl_m0][$message_size][$recipients_count]": "[][][][][][0]",
		"$sender_host_address": "192.0.2.9",
		"$received_protocol":   "esmtp",
		"$tls_in_cipher":       "",
	} {
		if got := tx.Expand(in); got != want {
			t.Errorf("connect: Expand(%q) = %q, want %q", in, got, want)
		}
	}
	if got := (&Tx{}).Expand("[$sender_host_address][$sender_host_port][$interface_address][$interface_port][$sender_helo_name][$authenticated_id][$sender_host_name][$received_protocol][$authenticated_sender][$sender_host_authenticated][$message_exim_id]"); got != "[][][][][][][][][][][]" {
		t.Errorf("empty tx: %q", got)
	}
	// message_size: SIZE= before data, -1 without it, the real size at data.
	tx, _ = newTx(StageMail)
	if got := tx.Expand("$message_size"); got != "-1" {
		t.Errorf("no SIZE=: %q", got)
	}
	tx, _ = newTx(StageData)
	tx.Message.Envelope.Size = 5000
	tx.Message.Stats.Size = 4321
	if got := tx.Expand("$message_size"); got != "4321" {
		t.Errorf("data: %q", got)
	}
}
