# shellcheck shell=bash
# Skills: each folder of the project's .codex/skills/ (a skill: NAME/SKILL.md and its files) is
# mounted read-only into the image's skills folder, SKILLS_INSIDE, beside the skills the image
# has from the skills answer. Claude Code reads it as its managed skills
# (/etc/claude-code/.claude/skills), codex as its admin skills (/etc/codex/skills): both links
# to it in the image. The folder is root's in the image, outside every tree the agent writes, so
# no symlink of the agent's can move these mounts, and .codex/ is never writable inside.
readonly SKILLS_DIR="$CODEX_DIR/skills" SKILLS_INSIDE=/usr/local/share/cxgen/skills
readonly SKILL_NAME_RE='^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'

# add_skill_mounts: .codex/skills/NAME read-only at SKILLS_INSIDE/NAME, for every folder NAME
# (files beside them, such as a README, and hidden names are left out). A symlink there (the
# folder, or a skill) is refused: Docker would mount what it points to, anywhere on this machine.
add_skill_mounts() {
  local path name
  [ -e "$SKILLS_DIR" ] || [ -L "$SKILLS_DIR" ] || return 0
  refuse_symlink "$SKILLS_DIR"
  [ -d "$SKILLS_DIR" ] || die "$SKILLS_DIR is not a folder: the project's skills go in it, one folder each" "$EXIT_USAGE"
  # No sandbox may be able to swap them meanwhile: .codex is read-only (a mount point) in this
  # project's own sandboxes, and another one that can write it must not run.
  at_risk "$CODEX_DIR"
  for path in "$SKILLS_DIR"/*; do
    name="${path##*/}"
    if [ ! -e "$path" ] && [ ! -L "$path" ]; then continue; fi
    refuse_symlink "$path"
    [ -d "$path" ] || continue
    [[ "$name" =~ $SKILL_NAME_RE ]] \
      || die "refusing the skill $(printf '%q' "$path"): a skill's folder name is letters, digits, '.', '_' and '-'" "$EXIT_USAGE"
    case " $IMAGE_SKILLS " in
      *" $name "*) die "the skill $name is both in .codex/skills and in the skills answer; rename one" "$EXIT_USAGE" ;;
    esac
    add_mount "$path" "$SKILLS_INSIDE/$name" ",readonly"
  done
}
