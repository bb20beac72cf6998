"""The Settings dialog: the base model, who writes reflections and who answers (this computer's
model or a chat server), training strength, data folder.

It writes the user's `settings.toml` (through `save_user_settings`, keeping their comments) and
the data-folder pointer; it changes nothing in a running engine. Whoever opens it listens to
`changed` and decides what to reload.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette, QResizeEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from memo_mlx.engine import (
    EndpointError,
    ModelError,
    check_url,
    is_hub_id,
    remote_allowed,
    resolve_source,
)
from memo_mlx.errors import MemoError
from memo_mlx.settings import (
    TRAINING_STRENGTHS,
    default_memo_home,
    load_defaults,
    memo_home,
    save_user_settings,
    set_data_folder,
    training_strength,
)

BUILTIN_LABEL = "Built-in (SmolLM2-135M-Instruct)"


class SettingsInvalid(ValueError):
    """A field's value that cannot be saved: `field` names it as the dialog shows it."""

    def __init__(self, field: str, why: str):
        super().__init__(f"{field}: {why}")
        self.field, self.why = field, why


def _hint(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    # The platform's secondary-text colour rather than a fixed grey: right in dark mode too.
    palette = label.palette()
    palette.setColor(QPalette.ColorRole.WindowText,
                     palette.color(QPalette.ColorRole.PlaceholderText))
    label.setPalette(palette)
    return label


def _column(*widgets: QWidget) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget)
    return box


def _row(*widgets: QWidget, indent: bool = True) -> QWidget:
    box = QWidget()
    layout = QHBoxLayout(box)
    # Indented under its radio button, so it reads as that choice's detail.
    layout.setContentsMargins(24 if indent else 0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget)
    return box


class ServerChoice:
    """This computer's model, or an OpenAI-compatible server (URL, model): one choice of the
    dialog, for the writer of reflections or for the executive."""

    def __init__(self, parent: QWidget, url: str, model: str, hint: str):
        self.initial = (url, model)
        self.local = QRadioButton("This computer's model")
        self.server = QRadioButton("An OpenAI-compatible server")
        self.url = QLineEdit(url)
        self.url.setPlaceholderText("http://localhost:1234/v1")
        self.model = QLineEdit(model)
        self.model.setPlaceholderText("the one it serves")
        self.group = QButtonGroup(parent)
        for button in (self.local, self.server):
            self.group.addButton(button)
            button.toggled.connect(self._update_enabled)
        (self.server if url else self.local).setChecked(True)
        fields = QFormLayout()
        fields.setContentsMargins(24, 0, 0, 0)
        fields.addRow("URL:", self.url)
        fields.addRow("Model:", self.model)
        server = QWidget()
        server.setLayout(fields)
        self.widget = _column(self.local, self.server, server, _row(_hint(hint)))
        self._update_enabled()

    def _update_enabled(self) -> None:
        self.url.setEnabled(self.server.isChecked())
        self.model.setEnabled(self.server.isChecked())

    def value(self, what: str, allow_remote: bool) -> tuple[str, str]:
        """The server's URL and model name; ("", the model name as it was) for this
        computer's model, so that name is kept for the next time a server is chosen."""
        if not self.server.isChecked():
            return "", self.initial[1]
        try:
            url = check_url(self.url.text(), allow_remote)
        except EndpointError as e:
            raise SettingsInvalid(f"{what} server", str(e)) from e
        return url, self.model.text().strip()


class SettingsDialog(QDialog):
    """Emits `changed` with the subset of {"model", "generator", "executive", "privacy",
    "strength", "data"} that the user changed, once saved."""

    changed = Signal(object)  # set[str]

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(640)
        defaults = load_defaults()
        model = defaults.get("model", {})
        synthesis = defaults.get("synthesis", {})
        executive = defaults.get("executive", {})
        self._initial_spec = str(model.get("spec") or "")
        self._initial_remote = remote_allowed()
        self._initial_strength = training_strength()
        self._home_fixed = bool(os.environ.get("MEMO_HOME"))
        self._initial_home = memo_home()

        form = QFormLayout()
        form.addRow("Base model:", self._model_section())
        self.generator = ServerChoice(
            self, str(synthesis.get("generator_url") or ""),
            str(synthesis.get("generator_model") or ""),
            "A larger model on a server writes better questions to train on; your text is "
            "sent to it.")
        self.executive = ServerChoice(
            self, str(executive.get("url") or ""), str(executive.get("model") or ""),
            "A larger model (LM Studio, Ollama, mlx-lm's server) reads the passages and writes "
            "the answers; your memories stay on this computer's model. If the server does not "
            "answer, this computer's model does, and the answer says so.")
        self.allow_remote = QCheckBox("Allow servers on other computers")
        self.allow_remote.setChecked(self._initial_remote)
        form.addRow("Reflections written by:", self.generator.widget)
        form.addRow("Answers written by:", self.executive.widget)
        form.addRow("Privacy:", _column(self.allow_remote, _hint(
            "Off: only servers on this computer (localhost) are used. On: what you ask, your "
            "memories' notes and passages of your files are sent to the server you named.")))
        form.addRow("Training strength:", self._strength_section(defaults))
        form.addRow("Data folder:", self._data_section())

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self._load_model(self._initial_spec)
        self._update_enabled()

    def resizeEvent(self, event: QResizeEvent) -> None:
        # Qt sizes a window by its layout's size hint, not by height for width: the dialog came
        # up 608 px tall where its wrapped hints need 692 at its width, one drawn over the field
        # above it. Its height follows its width instead, at any width.
        super().resizeEvent(event)
        layout = self.layout()
        need = layout.heightForWidth(self.width()) if layout is not None else -1
        if need > self.height():
            self.resize(self.width(), need)

    # --- sections -------------------------------------------------------------------------

    def _model_section(self) -> QWidget:
        self.model_builtin = QRadioButton(BUILTIN_LABEL)
        self.model_file = QRadioButton("A model file or folder on this computer")
        self.model_path = QLineEdit()
        self.model_path.setPlaceholderText("a .gguf file or MLX folder")
        self.model_choose_file = QPushButton("Choose File…")
        self.model_choose_file.clicked.connect(self._choose_model_file)
        self.model_choose_folder = QPushButton("Choose Folder…")
        self.model_choose_folder.clicked.connect(self._choose_model_folder)
        self.model_hub = QRadioButton("A Hugging Face model id")
        self.hub_id = QLineEdit()
        self.hub_id.setPlaceholderText("owner/name")
        self._model_group = QButtonGroup(self)
        for button in (self.model_builtin, self.model_file, self.model_hub):
            self._model_group.addButton(button)
            button.toggled.connect(self._update_enabled)
        widgets: list[QWidget] = [
            self.model_builtin,
            self.model_file,
            _row(self.model_path, self.model_choose_file, self.model_choose_folder),
            self.model_hub,
            _row(self.hub_id),
            _row(_hint("Downloaded once; the only time MeMo uses the network for its model.")),
        ]
        if os.environ.get("MEMO_MODEL"):
            widgets.append(_hint(
                f"MEMO_MODEL is set in the environment ({os.environ['MEMO_MODEL']}): "
                "it is used instead of this choice."))
        widgets.append(_hint("A memory is trained for one base model."))
        return _column(*widgets)

    def _strength_section(self, defaults: dict[str, Any]) -> QWidget:
        self.strength = QComboBox()
        for name, exposures in TRAINING_STRENGTHS.items():
            self.strength.addItem(name.capitalize(), name)
            self.strength.setItemData(self.strength.count() - 1,
                                      f"about {exposures} examples seen in training",
                                      Qt.ItemDataRole.ToolTipRole)
        if self._initial_strength == "custom":
            exposures = defaults.get("teaching", {}).get("exposures")
            self.strength.addItem(f"Custom ({exposures} examples)", "custom")
        self.strength.setCurrentIndex(self.strength.findData(self._initial_strength))
        return _column(
            self.strength,
            _hint("Stronger training recalls more of your text and takes longer."),
        )

    def _data_section(self) -> QWidget:
        self.data_folder = QLineEdit(str(self._initial_home))
        self.data_folder.setReadOnly(True)
        self.data_choose = QPushButton("Choose…")
        self.data_choose.clicked.connect(self._choose_data_folder)
        if self._home_fixed:
            self.data_choose.setEnabled(False)
            note = ("MEMO_HOME is set in the environment: it decides the data folder, so it "
                    "cannot be changed here.")
        else:
            note = "Used from the next start; the data already kept stays in the old folder."
        return _column(_row(self.data_folder, self.data_choose, indent=False), _hint(note))

    # --- state ----------------------------------------------------------------------------

    def _load_model(self, spec: str) -> None:
        if not spec:
            self.model_builtin.setChecked(True)
        elif is_hub_id(spec) and not Path(spec).expanduser().exists():
            self.model_hub.setChecked(True)
            self.hub_id.setText(spec)
        else:
            self.model_file.setChecked(True)
            self.model_path.setText(spec)

    def _update_enabled(self) -> None:
        local = self.model_file.isChecked()
        for widget in (self.model_path, self.model_choose_file, self.model_choose_folder):
            widget.setEnabled(local)
        self.hub_id.setEnabled(self.model_hub.isChecked())

    def _choose_model_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a Model File", self.model_path.text(), "GGUF models (*.gguf)")
        if path:
            self.model_path.setText(path)

    def _choose_model_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(
            self, "Choose an MLX Model Folder", self.model_path.text())
        if path:
            self.model_path.setText(path)

    def _choose_data_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(
            self, "Choose the Data Folder", self.data_folder.text())
        if path:
            self.data_folder.setText(path)

    # --- saving ---------------------------------------------------------------------------

    def _model_spec(self) -> str:
        if self.model_builtin.isChecked():
            return ""
        if self.model_file.isChecked():
            text = self.model_path.text().strip()
            if not text:
                raise SettingsInvalid("Base model", "choose a model file or folder")
            path = Path(text).expanduser()
            if not path.exists():
                raise SettingsInvalid("Base model", f"{path} does not exist")
            try:
                resolve_source(str(path))
            except ModelError as e:
                raise SettingsInvalid("Base model", str(e)) from e
            return str(path.absolute())
        text = self.hub_id.text().strip()
        if not is_hub_id(text) or Path(text).expanduser().exists():
            raise SettingsInvalid("Hugging Face model id",
                                  f"{text!r} is not of the form owner/name")
        return text

    def _home(self) -> Path:
        path = Path(self.data_folder.text().strip()).expanduser()
        if self._home_fixed or path == self._initial_home:
            return self._initial_home
        if not path.is_absolute():
            raise SettingsInvalid("Data folder", "choose a folder")
        if path.exists() and not path.is_dir():
            raise SettingsInvalid("Data folder", f"{path} is a file, not a folder")
        return path

    def accept(self) -> None:
        try:
            spec = self._model_spec()
            remote = self.allow_remote.isChecked()
            generator = self.generator.value("Reflection writer's", remote)
            executive = self.executive.value("Answering", remote)
            home = self._home()
        except SettingsInvalid as e:
            QMessageBox.warning(self, "Settings", f"{e.field}: {e.why}")
            return
        strength = str(self.strength.currentData())
        changed: set[str] = set()
        updates: dict[str, dict[str, Any]] = {}
        if spec != self._initial_spec:
            changed.add("model")
            # Empty is the bundled default: remove the key rather than pin it.
            updates["model"] = {"spec": spec or None}
        if generator != self.generator.initial:
            changed.add("generator")
            url, name = generator
            updates["synthesis"] = ({"generator_url": url, "generator_model": name} if url
                                    else {"generator_url": None})
        if executive != self.executive.initial:
            changed.add("executive")
            url, name = executive
            updates["executive"] = {"url": url, "model": name} if url else {"url": None}
        if remote != self._initial_remote:
            changed |= {"privacy", "executive"}  # a server elsewhere may now be used, or not
            updates["privacy"] = {"allow_remote": remote or None}
        if strength != self._initial_strength and strength in TRAINING_STRENGTHS:
            changed.add("strength")
            updates["teaching"] = {"exposures": TRAINING_STRENGTHS[strength]}
        try:
            if updates:
                save_user_settings(updates)
            if home != self._initial_home:
                changed.add("data")
                set_data_folder(None if home == default_memo_home() else home)
        except (MemoError, OSError) as e:
            QMessageBox.warning(self, "Settings", f"The settings could not be saved: {e}")
            return
        self.changed.emit(changed)
        super().accept()
