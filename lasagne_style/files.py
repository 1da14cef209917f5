"""Files the tool writes: checked before any work starts, written
atomically, never over one of the run's inputs.

Every output goes through :func:`write_atomically`: a temporary file in the
same directory renamed over the target once complete, so an interruption or
a crash never leaves half a file, with the permissions a plain write would
give. The ``check_*`` functions refuse, before a long run, what would only
fail at its end: an empty path, a directory, a missing or unwritable
directory, a pseudo-file system, a read-only file, a format that cannot be
written, a name longer than the file system allows (for an image output,
also its checkpoint's name), or an output that is one of the inputs.

Paths appear in messages through :func:`shown`: a "path" that is really an
image's bytes, or a whole file pasted by mistake, must not fill the terminal.
"""
import io
import os
import stat
import tempfile

from PIL import Image

from .errors import UserError

#: Figure formats :func:`check_figure_output` accepts (if matplotlib's
#: canvas can write them).
FIGURE_FORMATS = ("png", "pdf", "svg", "jpg", "jpeg", "eps", "ps", "tif",
                  "tiff", "webp")

_RGB_WRITABLE = {}  # Pillow format -> whether it can write RGB images

#: Paths up to this many characters (printable ones) appear whole in
#: messages; others as a repr-escaped prefix of :data:`SHOWN_PREFIX`.
SHOWN_CHARS = 240
SHOWN_PREFIX = 40


def shown(path):
    """``path`` as a message should quote it: as it is if it is short and
    printable, else a repr-escaped prefix and its length.

    Why: an API caller can pass an image's bytes where a path belongs (a
    PNG read with ``open(...).read()``), and a message that prints the
    "path" would then print the whole file, control characters included.

    Parameters
    ----------
    path : str, bytes or os.PathLike

    Returns
    -------
    str
        One line, at most about ``SHOWN_PREFIX + 40`` characters for a bad
        path.
    """
    try:
        path = os.fspath(path)
    except TypeError:
        return "a %s" % type(path).__name__
    if isinstance(path, str):
        if len(path) <= SHOWN_CHARS and path.isprintable():
            return path
        # undecodable bytes arrive as lone surrogates (os.fsdecode): the
        # bytes themselves read better (b'\x89PNG...')
        try:
            path.encode("utf-8")
        except UnicodeEncodeError:
            path = os.fsencode(path)
    elif len(path) <= SHOWN_CHARS and path.decode(
            "ascii", "replace").isprintable():
        return os.fsdecode(path)
    prefix = repr(path[:SHOWN_PREFIX])
    if len(path) <= SHOWN_PREFIX:
        return prefix
    unit = "bytes" if isinstance(path, bytes) else "characters"
    return "%s... (%d %s)" % (prefix, len(path), unit)


def looks_like_data(path):
    """Whether a "path" is rather a file's contents (a NUL byte, which no
    path can hold, or a line break): for a hint in "not found" messages."""
    try:
        path = os.fsdecode(path)
    except TypeError:
        return False
    return "\0" in path or "\n" in path


def _name_max(directory):
    """The longest file name (bytes) ``directory``'s file system allows."""
    try:
        return os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255  # what Linux file systems allow


def check_name_fits(path, what=None):
    """UserError if the file name of ``path`` is longer than its file system
    allows (or the whole path longer than the system's limit).

    Why: such a name only fails when the file is written, which for a
    checkpoint is while a run is interrupted, or at its end; checked here,
    it costs a second. ``what`` names the file in the message ('the
    checkpoint of out.png') if it is not a path the user gave.
    """
    directory = os.path.dirname(os.path.abspath(path))
    name = os.fsencode(os.path.basename(path))
    limit = _name_max(directory)
    label = what or shown(path)
    if len(name) > limit:
        raise UserError("the file name of %s is %d bytes long; this file "
                        "system allows %d: use a shorter name"
                        % (label, len(name), limit))
    try:
        path_max = os.pathconf(directory, "PC_PATH_MAX")
    except (OSError, ValueError):
        path_max = 4096
    if len(os.fsencode(os.path.abspath(path))) >= path_max:
        raise UserError("%s is longer than the %d bytes a path may have: "
                        "use a shorter one" % (label, path_max))


def check_output_dir(path):
    """The directory ``path`` would be written to; UserError unless it
    exists and is writable (checked before long runs, not after)."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UserError("output directory does not exist: %s"
                        % shown(directory))
    if not os.access(directory, os.W_OK):
        raise UserError("output directory is not writable: %s"
                        % shown(directory))
    return directory


def check_output_file(path):
    """UserError unless ``path`` can be an output file (before any work):
    not empty, not a directory, not a pseudo-file system, in a writable
    directory, not a read-only or special file. Returns its extension."""
    if not path:
        raise UserError("the output path is empty")
    if "\0" in os.fsdecode(path):
        raise UserError("the output path %s holds a NUL byte"
                        % shown(path))
    real = os.path.realpath(path)
    for system in ("/proc", "/sys", "/dev"):
        if real == system or real.startswith(system + "/"):
            raise UserError("%s is under %s, not a place for output files"
                            % (shown(path), system))
    if os.path.isdir(path):
        raise UserError("%s is a directory, not an output file" % shown(path))
    check_output_dir(path)
    check_name_fits(path)
    _kept_mode(path)
    return os.path.splitext(path)[1].lower()


def _can_write_rgb(fmt):
    # Pillow registers some writers for one mode only (XBM: 1-bit, SPIDER:
    # float): try a 1-pixel RGB image, once per format
    if fmt not in _RGB_WRITABLE:
        try:
            Image.new("RGB", (1, 1)).save(io.BytesIO(), format=fmt)
            _RGB_WRITABLE[fmt] = True
        except Exception:  # whatever a plugin raises, it cannot write RGB
            _RGB_WRITABLE[fmt] = False
    return _RGB_WRITABLE[fmt]


def check_image_output(path):
    """Check that ``path`` can take an image, before any work is done.

    Raises UserError for an empty path, a directory, a path under /proc,
    /sys or /dev, a missing or unwritable directory, a read-only existing
    file, an extension that Pillow cannot write RGB images as, or a name
    too long for the file system (a run's checkpoint name is checked by
    its caller, :func:`lasagne_style.api.stylize` and the others).

    Returns
    -------
    str
        The Pillow format the extension names ('PNG', 'JPEG', 'TIFF', ...);
        only 'PNG' (:data:`METADATA_FORMATS`) keeps metadata.
    """
    ext = check_output_file(path)
    if not ext:
        raise UserError("%s has no extension to tell the image format: use "
                        ".png" % shown(path))
    fmt = Image.registered_extensions().get(ext)
    if fmt is None or fmt not in Image.SAVE or not _can_write_rgb(fmt):
        raise UserError("cannot write %s images (%s): use .png, .jpg, .tif "
                        "or .webp" % (shown(ext), shown(path)))
    return fmt


def check_figure_output(path):
    """Like :func:`check_image_output` for a matplotlib figure; returns the
    format for ``savefig`` ('png', 'pdf', 'svg', ...: :data:`FIGURE_FORMATS`
    that matplotlib can write)."""
    ext = check_output_file(path)
    if not ext:
        raise UserError("%s has no extension to tell the figure format: use "
                        ".png" % shown(path))
    from matplotlib.figure import Figure  # only once a figure is asked for
    supported = Figure().canvas.get_supported_filetypes()
    if ext[1:] not in FIGURE_FORMATS or ext[1:] not in supported:
        raise UserError("cannot write %s figures (%s): use .png, .pdf or "
                        ".svg" % (shown(ext), shown(path)))
    return ext[1:]


def _umask():
    # os.umask can only be read by setting it, which would race with other
    # threads creating files: Linux shows it in /proc first
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _kept_mode(path):
    """The permissions a normal write of ``path`` would leave: an existing
    file's own, else 0o666 less the umask. UserError for an existing file
    that is read-only (from its mode bits: root may write anything) or not
    a regular file (renaming over /dev/null would replace the device)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return 0o666 & ~_umask()
    except OSError as e:
        raise UserError("cannot write %s (%s)" % (shown(path), e.strerror))
    if not stat.S_ISREG(st.st_mode):
        raise UserError("%s exists and is not a regular file"
                        % shown(path))
    if not st.st_mode & stat.S_IWUSR:
        raise UserError("%s is read-only" % shown(path))
    # permission bits only: a copied setuid bit would be a gift
    return stat.S_IMODE(st.st_mode) & 0o777


def write_atomically(path, write):
    """Call ``write(file)`` on a temporary file in the directory of ``path``
    and rename it over ``path`` only once it is complete, so a crash never
    leaves a half-written file.

    The file gets the permissions a plain write would give it (see
    :func:`_kept_mode`). An OSError while writing (a full disk, ...) becomes
    a UserError; the temporary file is removed whatever happens.
    """
    directory = check_output_dir(path)
    mode = _kept_mode(path)
    suffix = os.path.splitext(path)[1]
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix,
                                   dir=directory)
    except OSError as e:
        raise UserError("cannot write to %s (%s)" % (shown(directory),
                                                     e.strerror))
    try:
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except OSError as e:
            raise UserError("cannot write %s (%s)" % (
                shown(path), e.strerror or e)) from e
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass  # renamed already: an interrupt came after os.replace
        raise


def same_file(a, b):
    """Whether paths ``a`` and ``b`` name the same file (links resolved;
    a file that does not exist yet is compared by its real path)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_distinct(outputs, inputs=()):
    """UserError if an output path is one of the ``inputs`` or two outputs
    are the same file.

    Parameters
    ----------
    outputs : dict
        What each output is (``'-o'``, ``'--log'``...) -> path or None.
    inputs : iterable of (str, path)
        What each input is (``'content image'``...) and its path; arrays
        and None are skipped.
    """
    given = [(what, p) for what, p in outputs.items() if p]
    for what, path in given:
        for role, source in inputs:
            if isinstance(source, (str, os.PathLike)) and same_file(path,
                                                                    source):
                raise UserError("%s %s is the %s: it would be overwritten"
                                % (what, shown(path), role))
    for i, (what, path) in enumerate(given):
        for other, other_path in given[i + 1:]:
            if same_file(path, other_path):
                raise UserError("%s and %s are the same file (%s)"
                                % (what, other, shown(path)))
