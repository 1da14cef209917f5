"""Files the tool writes: checked before any work starts, written
atomically, never over one of the run's inputs.

Every output goes through :func:`write_atomically`: a temporary file in the
same directory renamed over the target once complete, so an interruption or
a crash never leaves half a file, with the permissions a plain write would
give. The ``check_*`` functions refuse, before a long run, what would only
fail at its end: an empty path, a directory, a missing or unwritable
directory, a pseudo-file system, a read-only file, a format that cannot be
written, or an output that is one of the inputs.
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


def check_output_dir(path):
    """The directory ``path`` would be written to; UserError unless it
    exists and is writable (checked before long runs, not after)."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UserError("output directory does not exist: %s" % directory)
    if not os.access(directory, os.W_OK):
        raise UserError("output directory is not writable: %s" % directory)
    return directory


def check_output_file(path):
    """UserError unless ``path`` can be an output file (before any work):
    not empty, not a directory, not a pseudo-file system, in a writable
    directory, not a read-only or special file. Returns its extension."""
    if not path:
        raise UserError("the output path is empty")
    real = os.path.realpath(path)
    for system in ("/proc", "/sys", "/dev"):
        if real == system or real.startswith(system + "/"):
            raise UserError("%s is under %s, not a place for output files"
                            % (path, system))
    if os.path.isdir(path):
        raise UserError("%s is a directory, not an output file" % path)
    check_output_dir(path)
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
    file, or an extension that Pillow cannot write RGB images as.

    Returns
    -------
    str
        The Pillow format the extension names ('PNG', 'JPEG', 'TIFF', ...);
        only 'PNG' (:data:`METADATA_FORMATS`) keeps metadata.
    """
    ext = check_output_file(path)
    if not ext:
        raise UserError("%s has no extension to tell the image format: use "
                        ".png" % path)
    fmt = Image.registered_extensions().get(ext)
    if fmt is None or fmt not in Image.SAVE or not _can_write_rgb(fmt):
        raise UserError("cannot write %s images (%s): use .png, .jpg, .tif "
                        "or .webp" % (ext, path))
    return fmt


def check_figure_output(path):
    """Like :func:`check_image_output` for a matplotlib figure; returns the
    format for ``savefig`` ('png', 'pdf', 'svg', ...: :data:`FIGURE_FORMATS`
    that matplotlib can write)."""
    ext = check_output_file(path)
    if not ext:
        raise UserError("%s has no extension to tell the figure format: use "
                        ".png" % path)
    from matplotlib.figure import Figure  # only once a figure is asked for
    supported = Figure().canvas.get_supported_filetypes()
    if ext[1:] not in FIGURE_FORMATS or ext[1:] not in supported:
        raise UserError("cannot write %s figures (%s): use .png, .pdf or "
                        ".svg" % (ext, path))
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
        raise UserError("cannot write %s (%s)" % (path, e.strerror))
    if not stat.S_ISREG(st.st_mode):
        raise UserError("%s exists and is not a regular file" % path)
    if not st.st_mode & stat.S_IWUSR:
        raise UserError("%s is read-only" % path)
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
        raise UserError("cannot write to %s (%s)" % (directory, e.strerror))
    try:
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except OSError as e:
            raise UserError("cannot write %s (%s)" % (
                path, e.strerror or e)) from e
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
                                % (what, path, role))
    for i, (what, path) in enumerate(given):
        for other, other_path in given[i + 1:]:
            if same_file(path, other_path):
                raise UserError("%s and %s are the same file (%s)"
                                % (what, other, path))
