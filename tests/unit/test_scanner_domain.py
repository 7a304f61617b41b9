"""Scanners in the domain (no I/O): status from the last contact and the timeout, the Images
settings by their wire names (validated, the bad field named), the configuration document,
and the heartbeat and metadata bodies."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from slidepacs.domain.image_rules import ImageRuleSpec
from slidepacs.domain.scanners import (
    IMAGE_FIELDS,
    IMAGE_HELP,
    Destination,
    ImageSettings,
    Scanner,
    checked_scanner_name,
    config_document,
    parse_heartbeat,
    parse_metadata,
)
from slidepacs.errors import InvalidInput

NOW = datetime(2026, 12, 4, 6, 0, tzinfo=timezone.utc)


def test_status_is_online_only_while_the_last_contact_is_younger_than_the_timeout() -> None:
    assert Scanner("Lab 1", "AE").status(NOW, 60) == "OFFLINE"  # never heard from
    recent = Scanner("Lab 1", "AE", last_contact_at=NOW - timedelta(seconds=59))
    old = Scanner("Lab 1", "AE", last_contact_at=NOW - timedelta(seconds=60))
    assert (recent.status(NOW, 60), old.status(NOW, 60)) == ("ONLINE", "OFFLINE")


def test_names_are_1_to_64_printable_characters() -> None:
    assert checked_scanner_name("  Lab 1 ") == "Lab 1"
    for bad in ("", "   ", "x" * 65, "Lab\t1"):
        with pytest.raises(InvalidInput, match="^name:"):
            checked_scanner_name(bad)


def test_every_image_setting_has_help_and_a_value_by_its_wire_name() -> None:
    document = ImageSettings(Destination(), ImageRuleSpec()).document()
    assert list(document) == list(IMAGE_FIELDS) == list(IMAGE_HELP)
    assert (document["image_output_format"], document["dimension_organization"]) == (
        "DICOM", "FULL")


def test_changes_map_onto_the_rules_and_bad_ones_name_the_wire_field() -> None:
    settings = ImageSettings(Destination(), ImageRuleSpec())
    changed = settings.changed({"image_output_format": "SVS", "file_location": "/srv/svs",
                                "dimension_organization": "sparse", "port": "4242",
                                "barcode_value_identifier": r"\d+", "title": None})
    assert (changed.rules.output_format, changed.rules.organization,
            changed.rules.barcode_regex, changed.destination) == (
        "svs", "sparse", r"\d+", Destination("", 4242, "SVS_STORE_SCP"))
    for changes, field in (({"barcode_value_modifier": "("}, "barcode_value_modifier"),
                           ({"image_output_format": "SVS"}, "file_location"),
                           ({"image_output_format": "TIFF"}, "image_output_format"),
                           ({"dimension_organization": "DENSE"}, "dimension_organization"),
                           ({"port": 0}, "port"), ({"hostname": "a b"}, "hostname"),
                           ({"title": "A\\B"}, "title"), ({"require_barcode_id": "yes"},
                                                           "require_barcode_id"),
                           ({"colour": "red"}, "colour")):
        with pytest.raises(InvalidInput, match=f"^{field}:"):
            settings.changed(changes)


def test_the_config_document_fills_the_receiver_host_and_names_the_calling_title() -> None:
    scanner = Scanner("Lab 1", "GT450_LAB1")
    document = config_document(scanner, ImageSettings(Destination(), ImageRuleSpec()), 7,
                               "10.0.0.1", {"hostname": "10.0.0.1", "port": 6662,
                                            "tls_port": 0}, 15)
    assert document["version"] == 7 and document["heartbeat_seconds"] == 15
    assert (document["images"]["hostname"], document["images"]["calling_title"]) == (
        "10.0.0.1", "GT450_LAB1")
    assert len(document["images"]) == len(IMAGE_FIELDS) + 1


def test_heartbeats_need_a_time_with_an_offset_and_give_the_skew() -> None:
    beat = parse_heartbeat({"time": "2026-12-04T06:00:01.5Z", "state": "idle"})
    assert beat.skew_seconds(NOW) == 1.5 and beat.state == "idle" and beat.model is None
    assert parse_heartbeat({"time": "2026-12-04T07:00:00+01:00"}).skew_seconds(NOW) == 0


def test_metadata_keeps_the_posted_object_and_needs_an_image_id() -> None:
    posted = parse_metadata({"image_id": 100042, "barcode": " S1 ", "rack": 3})
    assert (posted.image_id, posted.barcode) == ("100042", "S1")
    assert json.loads(posted.payload)["rack"] == 3
    for body, field in (({"image_id": True}, "image_id"), ({"image_id": "1", "barcode": 5},
                                                            "barcode"), ("text", "body")):
        with pytest.raises(InvalidInput, match=f"^{field}:"):
            parse_metadata(body)
