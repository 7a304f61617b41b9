"""Settings: defaults, the TOML file, its lookup order, environment overrides, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from slidepacs.config import (
    DuplicatePolicy,
    LogLevel,
    Settings,
    load_settings,
    mask_url,
    masked,
    settings_for,
)
from slidepacs.errors import ConfigError

NO_ENV: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run each test in an empty folder, so no stray ./slidepacs.toml is picked up."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _config_error(path: Path | None = None, environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, NO_ENV if environ is None else environ)
    return caught.value


# -- defaults and the file ---------------------------------------------------------------------
def test_defaults_without_file_or_environment() -> None:
    settings = load_settings(None, NO_ENV)
    assert settings == Settings()
    assert (settings.dicom.ae_title, settings.dicom.port) == ("SLIDEPACS", 11112)
    assert settings.http.port == 8042
    assert settings.storage.data_path == Path("data")
    assert settings.storage.backup_paths == ()
    assert settings.storage.duplicate_policy is DuplicatePolicy.REJECT
    assert settings.character_set.default == "ISO_IR 192"
    assert settings.log.level is LogLevel.INFO
    assert settings.log_path == Path("data/logs")
    expected_index = (Path.cwd() / "data" / "index.sqlite").resolve()
    assert settings.database_url == f"sqlite:///{expected_index}"


def test_toml_file_values_replace_defaults_and_the_rest_stay(tmp_path: Path) -> None:
    config = _write(tmp_path / "archive.toml", """
        [dicom]
        ae_title = "ARCHIVE1"
        port = 104
        [storage]
        data_path = "/srv/pacs/data"
        backup_paths = ["/mnt/b1", "/mnt/b2"]
        duplicate_policy = "keep_new_version"
        [database]
        url = "postgresql://pacs:pw@db/pacs"
        [log]
        level = "debug"
        [character_set]
        default = "ISO_IR 100"
    """)
    settings = load_settings(config, NO_ENV)
    assert (settings.dicom.ae_title, settings.dicom.port) == ("ARCHIVE1", 104)
    assert settings.dicom.host == "127.0.0.1"  # not in the file: default
    assert settings.storage.locations == (Path("/srv/pacs/data"), Path("/mnt/b1"), Path("/mnt/b2"))
    assert settings.storage.duplicate_policy is DuplicatePolicy.KEEP_NEW_VERSION
    assert settings.database_url == "postgresql://pacs:pw@db/pacs"
    assert settings.log.level is LogLevel.DEBUG
    assert settings.character_set.default == "ISO_IR 100"


# -- lookup order ------------------------------------------------------------------------------
@pytest.fixture
def three_files(tmp_path: Path) -> dict[str, Path]:
    """A file for each lookup step, each setting a different HTTP port."""
    return {
        "explicit": _write(tmp_path / "explicit.toml", "[http]\nport = 1001\n"),
        "environment": _write(tmp_path / "from-env.toml", "[http]\nport = 1002\n"),
        "local": _write(Path.cwd() / "slidepacs.toml", "[http]\nport = 1003\n"),
    }


def test_explicit_config_path_wins_over_environment_and_local_file(three_files) -> None:
    environ = {"SLIDEPACS_CONFIG": str(three_files["environment"])}
    assert load_settings(three_files["explicit"], environ).http.port == 1001


def test_slidepacs_config_variable_wins_over_local_file(three_files) -> None:
    environ = {"SLIDEPACS_CONFIG": str(three_files["environment"])}
    assert load_settings(None, environ).http.port == 1002


def test_local_slidepacs_toml_is_used_when_nothing_else_is_given(three_files) -> None:
    assert load_settings(None, NO_ENV).http.port == 1003


def test_missing_explicit_config_file_is_an_error_not_the_defaults(tmp_path: Path) -> None:
    error = _config_error(tmp_path / "nowhere.toml")
    assert error.setting == "config file"
    assert "nowhere.toml does not exist" in error.problem


# -- environment overrides ---------------------------------------------------------------------
def test_environment_overrides_an_integer_over_the_file(tmp_path: Path) -> None:
    config = _write(tmp_path / "c.toml", "[http]\nport = 1001\n")
    settings = load_settings(config, {"SLIDEPACS_HTTP__PORT": "9042"})
    assert settings.http.port == 9042


def test_the_virtual_scanners_token_variable_is_not_taken_for_a_setting() -> None:
    settings = load_settings(None, {"SLIDEPACS_SCANNER_TOKEN": "abc", "SLIDEPACS_HTTP__PORT": "9"})
    assert settings.http.port == 9


def test_environment_overrides_a_list() -> None:
    environ = {"SLIDEPACS_STORAGE__BACKUP_PATHS": '["/mnt/b1", "/mnt/b2"]'}
    settings = load_settings(None, environ)
    assert settings.storage.backup_paths == (Path("/mnt/b1"), Path("/mnt/b2"))


def test_environment_overrides_strings_with_or_without_quotes() -> None:
    environ = {
        "SLIDEPACS_DICOM__AE_TITLE": "FROM_ENV",
        "SLIDEPACS_SLIDE_RECEIVER__AE_TITLE": '"QUOTED"',
        "SLIDEPACS_CHARACTER_SET__DEFAULT": "ISO_IR 100",
        "SLIDEPACS_DATABASE__URL": "postgresql://u@db/x",
    }
    settings = load_settings(None, environ)
    assert settings.dicom.ae_title == "FROM_ENV"
    assert settings.slide_receiver.ae_title == "QUOTED"
    assert settings.character_set.default == "ISO_IR 100"
    assert settings.database.url == "postgresql://u@db/x"


def test_text_settings_that_look_like_numbers_stay_text() -> None:
    environ = {"SLIDEPACS_DICOM__AE_TITLE": "1234", "SLIDEPACS_STORAGE__DATA_PATH": "2024",
               "SLIDEPACS_DICOM__HOST": "true"}
    settings = load_settings(None, environ)
    assert settings.dicom.ae_title == "1234"
    assert settings.storage.data_path == Path("2024")
    assert settings.dicom.host == "true"


def test_empty_environment_value_clears_a_text_setting(tmp_path: Path) -> None:
    config = _write(tmp_path / "c.toml", '[database]\nurl = "postgresql://u@db/x"\n')
    settings = load_settings(config, {"SLIDEPACS_DATABASE__URL": ""})
    assert settings.database.url == ""
    assert settings.database_url.startswith("sqlite:///")


def test_unrelated_environment_variables_are_ignored() -> None:
    settings = load_settings(None, {"PATH": "/bin", "HTTP__PORT": "1"})
    assert settings.http.port == 8042


# -- validation errors name the setting --------------------------------------------------------
def test_unknown_key_in_file_names_the_key(tmp_path: Path) -> None:
    error = _config_error(_write(tmp_path / "c.toml", "[dicom]\naetitle = \"X\"\n"))
    assert error.setting == "dicom.aetitle"
    assert error.problem == "unknown setting"


def test_unknown_section_names_the_section(tmp_path: Path) -> None:
    error = _config_error(_write(tmp_path / "c.toml", "[dicomweb]\nport = 1\n"))
    assert error.setting == "dicomweb"


def test_unknown_key_from_environment_names_the_variable() -> None:
    error = _config_error(environ={"SLIDEPACS_HTTP__PROT": "80"})
    assert error.setting == "http.prot"
    assert "SLIDEPACS_HTTP__PROT" in error.problem


def test_malformed_environment_variable_name_is_refused() -> None:
    error = _config_error(environ={"SLIDEPACS_HTTPPORT": "80"})
    assert error.setting == "SLIDEPACS_HTTPPORT"
    assert "SLIDEPACS_<SECTION>__<KEY>" in error.problem


@pytest.mark.parametrize("port", [0, 65536, -1, "eighty"])
def test_bad_port_names_the_port_setting(tmp_path: Path, port: object) -> None:
    value = f'"{port}"' if isinstance(port, str) else port
    error = _config_error(_write(tmp_path / "c.toml", f"[dicom]\nport = {value}\n"))
    assert error.setting == "dicom.port"
    assert str(port) in error.problem


def test_bad_port_from_environment_names_setting_and_variable() -> None:
    error = _config_error(environ={"SLIDEPACS_HTTP__PORT": "99999"})
    assert error.setting == "http.port"
    assert "99999" in error.problem and "SLIDEPACS_HTTP__PORT" in error.problem


@pytest.mark.parametrize("title", ["", "   ", "SEVENTEEN_CHARS_X", "BACK\\\\SLASH", "TAB\\tTAB"])
def test_bad_ae_title_names_the_ae_title_setting(tmp_path: Path, title: str) -> None:
    error = _config_error(_write(tmp_path / "c.toml", f'[slide_receiver]\nae_title = "{title}"\n'))
    assert error.setting == "slide_receiver.ae_title"


def test_ae_title_with_surrounding_spaces_is_trimmed() -> None:
    settings = load_settings(None, {"SLIDEPACS_DICOM__AE_TITLE": '" ARCHIVE "'})
    assert settings.dicom.ae_title == "ARCHIVE"


def test_unknown_character_set_names_the_setting(tmp_path: Path) -> None:
    error = _config_error(_write(tmp_path / "c.toml", '[character_set]\ndefault = "UTF-8"\n'))
    assert error.setting == "character_set.default"
    assert "'UTF-8'" in error.problem


def test_multi_term_character_set_is_accepted() -> None:
    settings = load_settings(None, {"SLIDEPACS_CHARACTER_SET__DEFAULT": "\\ISO 2022 IR 87"})
    assert settings.character_set.default == "ISO 2022 IR 87"


def test_more_than_two_backup_paths_are_refused(tmp_path: Path) -> None:
    config = _write(tmp_path / "c.toml", '[storage]\nbackup_paths = ["/b1", "/b2", "/b3"]\n')
    error = _config_error(config)
    assert error.setting == "storage.backup_paths"
    assert "at most 2" in error.problem


@pytest.mark.parametrize("backups", [
    ['"./data"'],                      # the data path itself
    ['"./data/mirror"'],               # inside the data path
    ['"/srv/b1"', '"/srv/b1/../b1"'],  # the same folder twice
    ['"."'],                           # a parent of the data path
])
def test_overlapping_storage_locations_are_refused(tmp_path: Path, backups: list[str]) -> None:
    config = _write(tmp_path / "c.toml", f"[storage]\nbackup_paths = [{', '.join(backups)}]\n")
    error = _config_error(config)
    assert error.setting == "storage.backup_paths"
    assert "overlaps" in error.problem


def test_overlap_is_also_refused_for_settings_built_in_code(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="storage.backup_paths"):
        settings_for(tmp_path / "data", storage={"backup_paths": [str(tmp_path / "data/b")]})


def test_sibling_locations_with_a_common_prefix_do_not_overlap(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data", storage={"backup_paths": [str(tmp_path / "data2")]})
    assert len(settings.storage.locations) == 2


def test_unknown_duplicate_policy_names_the_setting() -> None:
    error = _config_error(environ={"SLIDEPACS_STORAGE__DUPLICATE_POLICY": "overwrite"})
    assert error.setting == "storage.duplicate_policy"


def test_malformed_toml_names_the_file_and_the_line(tmp_path: Path) -> None:
    error = _config_error(_write(tmp_path / "broken.toml", "[dicom]\nport = = 1\n"))
    assert error.setting == "config file"
    assert "broken.toml is not valid TOML" in error.problem
    assert "line 2" in error.problem


# -- showing the configuration -----------------------------------------------------------------
@pytest.mark.parametrize("url", [
    "postgresql://pacs:s3cret@db.example/pacs",
    "postgresql+psycopg://pacs:s3cret@db.example:5432/pacs?sslmode=require",
    "postgresql://pacs:pa@s3cret@db.example/pacs",      # '@' inside the password
    "postgresql://pacs@db.example/pacs?password=s3cret",
])
def test_mask_url_hides_every_form_of_password(url: str) -> None:
    shown = mask_url(url)
    assert "s3cret" not in shown
    assert "***" in shown and "db.example" in shown


def test_mask_url_leaves_urls_without_password_alone() -> None:
    assert mask_url("sqlite:////srv/index.sqlite") == "sqlite:////srv/index.sqlite"
    assert mask_url("postgresql://pacs@db/pacs") == "postgresql://pacs@db/pacs"


def test_masked_configuration_shows_effective_values_without_secrets(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data", database={"url": "postgresql://u:topsecret@h/d"})
    data = masked(settings)
    assert data["database"]["url"] == "postgresql://u:***@h/d"
    assert data["log"]["path"] == str(tmp_path / "data" / "logs")
    assert data["storage"]["data_path"] == str(tmp_path / "data")
    assert "topsecret" not in repr(data)
