"""The certificates role against pebble on the test host.

converge issued the certificates and recorded `start`, idempotence re-ran it far from expiry (the no-op
run), side_effect.yml played the situations and recorded the host's state after each in
/var/lib/bxops-test/<step>.json (served and installed serials, nginx worker PIDs, the role's message).
These tests read those records (all in one read) and the host's final state.
"""

import json

import pytest

DOMAINS = ["shop.bxops.test", "www.shop.bxops.test"]
SSL_DIR = "/etc/nginx/ssl"

_READ_RECORDS = (
    "python3 -c 'import glob, json, os; print(json.dumps({os.path.basename(p)[:-5]: json.load(open(p))"
    " for p in glob.glob(\"/var/lib/bxops-test/*.json\")}))'"
)


@pytest.fixture(scope="module")
def records(host):
    """Every record side_effect.yml wrote, read from the host once: {step: record}."""
    return json.loads(host.check_output(_READ_RECORDS))


@pytest.fixture
def record(records):
    def read(name):
        assert name in records, f"side_effect did not record {name}"
        return records[name]

    return read


def served_serial(host, domain):
    return host.check_output(
        f"openssl s_client -connect 127.0.0.1:443 -servername {domain} </dev/null 2>/dev/null"
        " | openssl x509 -noout -serial"
    )


def installed_serial(host, domain):
    return host.check_output(f"openssl x509 -in {SSL_DIR}/{domain}/fullchain.pem -noout -serial")


@pytest.fixture(scope="module")
def pebble_root(host):
    """Pebble's issuing root (not its API CA): fetched from the management API."""
    host.check_output("curl -sf https://localhost:15000/roots/0 -o /tmp/pebble-root.pem")
    return "/tmp/pebble-root.pem"


# --- issue --------------------------------------------------------------------------------------


@pytest.mark.parametrize("domain", DOMAINS)
def test_served_certificate_is_pebbles_and_verifies(host, domain, pebble_root):
    chain = f"{SSL_DIR}/{domain}/fullchain.pem"
    assert "Pebble Intermediate" in host.check_output(f"openssl x509 -in {chain} -noout -issuer")
    # The installed chain verifies up to pebble's root and names the domain.
    host.check_output(f"openssl x509 -in {chain} -out /tmp/leaf.pem")
    verify = host.run(
        f"openssl verify -CAfile {pebble_root} -untrusted {chain} -verify_hostname {domain} /tmp/leaf.pem"
    )
    assert verify.rc == 0, verify.stdout + verify.stderr
    # nginx serves exactly the installed certificate, valid for more than 30 days.
    assert served_serial(host, domain) == installed_serial(host, domain)
    assert host.run(f"openssl x509 -in {chain} -noout -checkend {30 * 86400}").rc == 0


@pytest.mark.parametrize("domain", DOMAINS)
def test_site_answers_over_https(host, domain, pebble_root):
    # curl trusts only pebble's root: the handshake succeeds only with the chain nginx sends.
    cmd = host.run(
        f"curl -s -w '\\n%{{http_code}}' --cacert {pebble_root} --resolve {domain}:443:127.0.0.1 https://{domain}/"
    )
    assert cmd.rc == 0, f"curl rc {cmd.rc}: {cmd.stderr}"
    body, code = cmd.stdout.rsplit("\n", 1)
    # open, not the maintenance page (the stand-in answers 503 + BXOPS-SITE-CLOSED while site_stopped=Y)
    assert code == "200", body[-300:]
    assert "BXOPS-SITE-CLOSED" not in body
    assert "BXOPS-PAGE-OK home" in body, body[-300:]


@pytest.mark.parametrize("domain", DOMAINS)
def test_key_and_chain_modes(host, domain):
    key = host.file(f"{SSL_DIR}/{domain}/privkey.pem")
    chain = host.file(f"{SSL_DIR}/{domain}/fullchain.pem")
    assert key.user == "root" and key.group == "root"
    assert key.mode == 0o600
    assert chain.user == "root" and chain.mode == 0o644
    # the key belongs to the certificate
    pub_key = host.check_output(f"openssl pkey -in {key.path} -pubout")
    pub_cert = host.check_output(f"openssl x509 -in {chain.path} -noout -pubkey")
    assert pub_key == pub_cert


def test_account_key_kept_and_private(host):
    key = host.file("/var/lib/bxops/acme/account.key")
    assert key.exists and key.user == "root" and key.mode == 0o600
    assert host.file("/var/lib/bxops/acme").mode == 0o700
    # the same key was used throughout: created before converge's first order, never rewritten since
    newer = host.check_output("find /var/lib/bxops/acme/account.key -newer /var/lib/bxops-test/start.json")
    assert newer == ""


def test_no_challenge_files_or_pending_keys_left(host):
    left = host.check_output("find /home/bitrix/www/.well-known/acme-challenge -type f | wc -l")
    assert left == "0"
    assert host.check_output("find /var/lib/bxops/acme/pending -mindepth 1 | wc -l") == "0"


# --- no-op, check mode, renew -------------------------------------------------------------------


def test_noop_far_from_expiry_changes_nothing_and_does_not_reload(record):
    start, noop = record("start"), record("noop")
    assert all(start["served"][d] for d in DOMAINS)
    assert noop["served"] == start["served"]
    assert noop["disk"] == start["disk"]
    assert noop["workers"] == start["workers"], "nginx was reloaded although nothing changed"


def test_check_mode_reports_but_touches_nothing(record):
    noop, check = record("noop"), record("check")
    assert check["served"] == noop["served"]
    assert check["disk"] == noop["disk"]
    assert check["workers"] == noop["workers"]


def test_renewal_inside_the_window_replaces_served_certificates(record):
    check, renew = record("check"), record("renew")
    for d in DOMAINS:
        assert renew["served"][d] != check["served"][d], d
        assert renew["served"][d] == renew["disk"][d], d
        assert "Pebble Intermediate" in (renew["served_issuer"][d] or "")
    assert renew["workers"] != check["workers"], "nginx was not reloaded after the renewal"


# --- failures -----------------------------------------------------------------------------------


def test_failed_challenge_is_explained_and_keeps_previous_certificate(record):
    before, after = record("before_failed_challenge"), record("failed_challenge")
    msg = after["msg"]
    assert "www.shop.bxops.test" in msg and "HTTP-01 challenge failed" in msg, msg
    # the broken domain keeps its certificate, served and installed; the other was renewed
    assert after["served"]["www.shop.bxops.test"] == before["served"]["www.shop.bxops.test"]
    assert after["disk"]["www.shop.bxops.test"] == before["disk"]["www.shop.bxops.test"]
    assert after["served"]["shop.bxops.test"] != before["served"]["shop.bxops.test"]
    assert after["served"]["shop.bxops.test"] == after["disk"]["shop.bxops.test"]


def test_dns_elsewhere_refused_before_any_change(host, record):
    before, after = record("before_dns"), record("dns")
    msg = after["msg"]
    assert "elsewhere.bxops.test" in msg and "192.0.2.10" in msg and "not to this host" in msg, msg
    assert after["served"] == before["served"] and after["disk"] == before["disk"]
    assert after["workers"] == before["workers"]
    assert not host.file(f"{SSL_DIR}/elsewhere.bxops.test").exists


def test_failed_verification_restores_previous_certificate(host, record):
    before, after = record("before_verify_fail"), record("verify_fail")
    msg = after["msg"]
    assert "Verification failed" in msg and "shop.bxops.test" in msg and "restored" in msg, msg
    # the shadowing block kept answering; the installed certificate is the previous one again
    assert after["disk"]["shop.bxops.test"] == before["disk"]["shop.bxops.test"]
    assert after["served"] == before["served"]
    # and the backup of what was replaced is kept: side_effect.yml is one playbook run, so one run id and
    # one backup folder, whose copy of shop.bxops.test's chain each replacing role run rewrote; the last
    # (this one) left there the certificate it restored
    backups = host.check_output(
        "find /var/lib/bxops/backups/certificates -path '*/shop.bxops.test/fullchain.pem'"
    ).splitlines()
    assert len(backups) == 1, backups
    kept = int(host.check_output(f"openssl x509 -in {backups[0]} -noout -serial").split("=", 1)[1], 16)
    assert kept == before["disk"]["shop.bxops.test"]


@pytest.mark.parametrize(
    "case, link",
    [
        ("wellknown", "/home/bitrix/www/.well-known"),
        ("acme_challenge", "/home/bitrix/www/.well-known/acme-challenge"),
    ],
)
def test_symlinked_challenge_folder_refused_naming_it_and_sentinel_untouched(case, link, record):
    before, after = record("before_hostile_" + case), record("hostile_" + case)
    msg = after["msg"]
    assert msg != "NO FAILURE", f"the role renewed through {link} -> /srv/bxops-sentinel"
    assert f"{link} is a symlink" in msg, msg
    assert "\n" not in msg.strip(), f"not one line: {msg!r}"
    # written by hand: what side_effect.yml created (root:root 0755 folder, one root file 0644)
    assert before["sentinel"] == [
        "/srv/bxops-sentinel root:root 755 " + before["sentinel"][0].rsplit(" ", 1)[1],
        "/srv/bxops-sentinel/passwd root:root 644 32",
    ]
    assert after["sentinel"] == before["sentinel"], "the sentinel (standing for /etc) was changed"
    # refused before any change: certificates, nginx (no reload) as they were
    assert after["served"] == before["served"] and after["disk"] == before["disk"]
    assert after["workers"] == before["workers"]


@pytest.mark.parametrize(
    "case, variable",
    [
        ("empty_domains", "certificates_domains"),
        ("webroot_outside", "certificates_webroot"),
        ("acme_url_dead", "certificates_acme_directory"),
        ("acme_name_unknown", "certificates_acme_directory"),
        ("renew_days_zero", "certificates_renew_days"),
        ("renew_days_text", "certificates_renew_days"),
        ("domain_wildcard", "certificates_domains"),
    ],
)
def test_bad_input_refused_naming_the_variable(case, variable, record):
    msg = record("bad_inputs")[case]
    assert msg != "NO FAILURE", f"{case} was accepted"
    assert variable in msg, msg


def test_bad_input_changed_nothing(record):
    before, after = record("before_bad_input"), record("after_bad_input")
    assert after == {**before, "msg": after["msg"]}


def test_final_state_serves_installed_certificates(host):
    # after the shadowing block was removed, every domain is served from the installed files
    for domain in DOMAINS:
        assert served_serial(host, domain) == installed_serial(host, domain)
