"""The registry of assignments: one folder per id under ``solutions/``, everything else derived."""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import REPO_ROOT

BUILD_INFO = "build-info.json"
SETTINGS = "assignment.toml"  # optional, beside the master: what the assignment needs besides code


@dataclass(frozen=True)
class BuildInfo:
    """What ``build`` records about the last build of an assignment (``dist/<id>/build-info.json``)."""

    digest: str  # hash of every build input (build.source_digest)
    points: dict[str, float] = field(default_factory=dict)  # question -> points (autograded)
    #: the questions Otter filters into the PDF, graded by hand or ``export: true`` (grading.manual.to_json)
    manual: list[dict] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(self.points.values())

    def write(self, path: Path) -> None:
        data = asdict(self)
        if not self.manual:  # the file stays as it was for assignments without such questions
            del data["manual"]
        path.write_text(json.dumps(data))

    @classmethod
    def read(cls, path: Path) -> "BuildInfo":
        data = json.loads(path.read_text())
        return cls(digest=data.get("digest", ""), points=data.get("points", {}), manual=data.get("manual", []))


class UnknownAssignment(LookupError):
    """Raised for an id with no master notebook under ``solutions/``."""


@dataclass(frozen=True)
class Assignment:
    """Paths of one assignment, all derived from its id and the repository root."""

    id: str
    root: Path = REPO_ROOT

    @property
    def source_dir(self) -> Path:
        return self.root / "solutions" / self.id

    @property
    def master(self) -> Path:
        notebooks = sorted(self.source_dir.glob("*.ipynb"))
        if len(notebooks) != 1:
            raise UnknownAssignment(
                f"{self.source_dir} must hold exactly one master notebook, found {len(notebooks)}"
            )
        return notebooks[0]

    @property
    def name(self) -> str:
        """File stem shared by the master, the student notebook and the solution notebook."""
        return self.master.stem

    @property
    def cases(self) -> Path:
        """Inputs from which ``build`` records the solution's expected values (optional)."""
        return self.source_dir / "cases.py"

    @property
    def demo_bugs(self) -> Path:
        """Bugs injected into the solution to make the demo 'two bugs' submission (optional)."""
        return self.source_dir / "demo_bugs.py"

    @property
    def student_dir(self) -> Path:
        return self.root / "assignments" / self.id

    @property
    def student_notebook(self) -> Path:
        return self.student_dir / f"{self.name}.ipynb"

    @property
    def dist_dir(self) -> Path:
        return self.root / "autograder" / "dist" / self.id

    @property
    def autograder_zip(self) -> Path:
        return self.dist_dir / f"{self.id}-autograder.zip"

    @property
    def build_info_file(self) -> Path:
        return self.dist_dir / BUILD_INFO

    def build_info(self) -> BuildInfo | None:
        """The last build's record, or None when the assignment was never built."""
        return BuildInfo.read(self.build_info_file) if self.build_info_file.exists() else None

    @property
    def points(self) -> dict[str, float]:
        """Question -> points, from the last build (empty when never built)."""
        info = self.build_info()
        return dict(info.points) if info else {}

    @property
    def datasets(self) -> tuple[str, ...]:
        """The data sets it declares in ``assignment.toml`` (names in ``autograder.datasets``)."""
        path = self.source_dir / SETTINGS
        if not path.exists():
            return ()
        return tuple(tomllib.loads(path.read_text()).get("datasets", ()))

    @property
    def solution_notebook(self) -> Path:
        """The solution as Otter Assign writes it for the autograder: answers and init cell."""
        return self.dist_dir / f"{self.name}-solution.ipynb"


def all_assignments(root: Path = REPO_ROOT) -> list[Assignment]:
    """Every assignment with a folder under ``solutions/``, sorted by id."""
    return [Assignment(p.name, root) for p in sorted((root / "solutions").iterdir()) if p.is_dir()
            and any(p.glob("*.ipynb"))]


def get(assignment_id: str, root: Path = REPO_ROOT) -> Assignment:
    """Look up one assignment by id, with the known ids in the error."""
    known = {a.id: a for a in all_assignments(root)}
    if assignment_id not in known:
        raise UnknownAssignment(
            f"unknown assignment {assignment_id!r}; known ids: {', '.join(known) or 'none'}"
        )
    return known[assignment_id]
