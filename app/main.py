"""The main window and `memo-app` / `python -m app`."""

from __future__ import annotations

import sys

from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QMessageBox

from app.chat import ChatPane
from app.engine import EngineBridge
from memo_mlx import __version__


class MainWindow(QMainWindow):
    def __init__(self, engine: EngineBridge):
        super().__init__()
        self.engine = engine
        self.setWindowTitle("MeMo")
        self.resize(760, 560)
        self.chat = ChatPane(engine)
        self.setCentralWidget(self.chat)
        self.model_label = QLabel("Loading the model…")
        self.statusBar().addWidget(self.model_label)
        engine.loaded.connect(self.model_label.setText)
        engine.load_failed.connect(self._load_failed)

        file_menu = self.menuBar().addMenu("&File")
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        help_menu = self.menuBar().addMenu("&Help")
        about = QAction("&About MeMo", self)
        about.setMenuRole(QAction.MenuRole.AboutRole)
        about.triggered.connect(self._about)
        help_menu.addAction(about)
        engine.start()

    def _load_failed(self, message: str) -> None:
        self.model_label.setText("The model could not be loaded")
        QMessageBox.critical(self, "MeMo", f"The model could not be loaded:\n\n{message}")

    def _about(self) -> None:
        QMessageBox.about(
            self, "About MeMo",
            f"MeMo {__version__}\nA private memory model of your folders. "
            "Everything runs on this computer; nothing is sent anywhere.",
        )

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt's name)
        self.engine.close()
        super().closeEvent(event)


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        from memo_mlx.blas import reexec_with_fast_blas

        reexec_with_fast_blas()
    app = QApplication(sys.argv if argv is None else ["memo-app", *argv])
    app.setApplicationName("MeMo")
    app.setOrganizationName("MeMo")
    app.setApplicationVersion(__version__)
    window = MainWindow(EngineBridge())
    window.show()
    return app.exec()
