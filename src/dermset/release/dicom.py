"""``dicom/``: each released image as a DICOM Dermoscopic Photography Image (Supplement 221).

Written with pydicom; checked in the tests with dicom3tools' ``dciodvfy``, which knows this IOD.

* Baseline JPEGs go in unchanged, encapsulated (JPEG Baseline transfer syntax): the pixels are
  the captured ones, bit for bit. Other files (PNG, progressive JPEG) are stored as their decoded
  RGB pixels, uncompressed.
* One study per patient and one series per lesion; UIDs are derived from the release name and
  the public ids, so a rebuilt release gets the same UIDs.
* Patient: the pseudonym as Patient ID, no name, no birth date, sex, age as ``age_approx``
  (``040Y``; 85 means 85 or older); Patient Identity Removed = YES (PS3.15 Basic Profile).
* Lesion: the series describes the lesion by its pseudonym; the anatomic site is coded in the
  ISIC vocabulary (local coding scheme ``99ISIC``: SNOMED codes for ISIC's eight general sites
  are not one-to-one). Laterality is empty: the registry does not record it.
* Equipment: the device name as model; the serial number is the dummy ``UNKNOWN`` (the registry
  never holds serial numbers; PS3.15 replaces them with a dummy value).
* Dermoscopy: Light Source Polarization and Contact Method from ``dermoscopic_type``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image as PILImage
from PIL import JpegImagePlugin
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    DermoscopicPhotographyImageStorage,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    generate_uid,
)

from dermset import __version__
from dermset.release.contents import ReleasedImage

DICOM_DIR = "dicom"
LOCAL_SITE_SCHEME = "99ISIC"
SERIAL_DUMMY = "UNKNOWN"
_SEX = {"female": "F", "male": "M"}
_POLARIZATION = {
    "contact polarized": "POLARIZED",
    "non-contact polarized": "POLARIZED",
    "contact non-polarized": "NON_POLARIZED",
}


def _uid(*parts: str) -> str:
    """A UID derived from *parts* (same parts, same UID)."""
    return generate_uid(entropy_srcs=["dermset", *parts])


def _is_baseline_jpeg(data: bytes) -> bool:
    """True for a JPEG whose frame is baseline DCT (SOF0): the JPEG Baseline transfer syntax."""
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xC0:
            return True
        if 0xC1 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return False
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return False


def _pixels(ds: Dataset, data: bytes) -> None:
    """Pixel Data and the Image Pixel module, encapsulated JPEG when possible."""
    with PILImage.open(io.BytesIO(data)) as im:
        mode, (cols, rows) = im.mode, im.size
        baseline = im.format == "JPEG" and mode in ("L", "RGB") and _is_baseline_jpeg(data)
        subsampling = JpegImagePlugin.get_sampling(im) if baseline else -1
        pixels = None if baseline else np.asarray(im.convert("RGB"))
        lossy = im.format == "JPEG"
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.LossyImageCompression = "01" if lossy else "00"
    if baseline:
        ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
        ds.SamplesPerPixel = 1 if mode == "L" else 3
        if mode == "L":
            ds.PhotometricInterpretation = "MONOCHROME2"
        else:
            ds.PhotometricInterpretation = "YBR_FULL" if subsampling == 0 else "YBR_FULL_422"
            ds.PlanarConfiguration = 0
        ds.LossyImageCompressionMethod = "ISO_10918_1"
        ratio = rows * cols * ds.SamplesPerPixel / max(len(data), 1)
        ds.LossyImageCompressionRatio = f"{ratio:.2f}"
        ds.PixelData = encapsulate([data])
        ds["PixelData"].VR = "OB"
        return
    assert pixels is not None
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.PixelData = pixels.tobytes()


def dicom_dataset(img: ReleasedImage, data: bytes, release: str) -> Dataset:
    """The Dermoscopic Photography Image of one released image."""
    row: dict[str, Any] = img.row
    patient = row.get("patient_id") or f"no-patient:{img.isic_id}"
    lesion = row.get("lesion_id") or f"no-lesion:{img.isic_id}"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DermoscopicPhotographyImageStorage
    meta.MediaStorageSOPInstanceUID = _uid(release, "image", img.isic_id)
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.Modality = "DMS"
    # patient (pseudonymous)
    ds.PatientID = row.get("patient_id") or ""
    ds.PatientName = ""
    ds.PatientBirthDate = ""
    ds.PatientSex = _SEX.get(row.get("sex") or "", "")
    age = row.get("age_approx")
    if age is not None:
        ds.PatientAge = f"{int(age):03d}Y"
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "dermset: pseudonyms, age_approx, no dates, no metadata blocks"
    # study = patient, series = lesion
    ds.StudyInstanceUID = _uid(release, "patient", patient)
    ds.StudyDate = ds.StudyTime = ds.ReferringPhysicianName = ""
    ds.StudyID = ds.AccessionNumber = ""
    ds.StudyDescription = f"dermset release {release}"
    ds.SeriesInstanceUID = _uid(release, "lesion", lesion)
    ds.SeriesNumber = 1
    ds.SeriesDescription = f"lesion {row.get('lesion_id') or 'unknown'}"
    ds.Laterality = ""  # not recorded (type 2C: empty means unknown)
    ds.FrameOfReferenceUID = _uid(release, "frame", img.isic_id)
    ds.PositionReferenceIndicator = ""
    # equipment
    ds.Manufacturer = "UNKNOWN"
    ds.ManufacturerModelName = (row.get("acquisition_device") or "UNKNOWN")[:64]
    ds.DeviceSerialNumber = SERIAL_DUMMY
    ds.SoftwareVersions = f"dermset {__version__}"
    # image
    ds.InstanceNumber = 1
    ds.PatientOrientation = ""
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.ImageComments = (
        f"{img.isic_id}: {row.get('diagnosis_category')} ({row.get('diagnosis')}); "
        f"confirmed by {row.get('verification_stage') or 'no stage'}"
    )
    ds.AcquisitionContextSequence = DicomSequence([])
    ds.BurnedInAnnotation = "NO"
    ds.RecognizableVisualFeatures = "NO"
    site = row.get("anatom_site_general")
    if site:
        code = Dataset()
        code.CodeValue = site[:16]
        code.CodingSchemeDesignator = LOCAL_SITE_SCHEME
        code.CodeMeaning = f"{site} (ISIC anatom_site_general)"
        ds.AnatomicRegionSequence = DicomSequence([code])
    # dermoscopy
    dtype = row.get("dermoscopic_type") or ""
    ds.LightSourcePolarization = _POLARIZATION.get(dtype, "")
    ds.ContactMethod = "NON_CONTACT" if dtype.startswith("non-contact") else ""
    ds.EmitterColorTemperature = ""
    ds.OpticalMagnificationFactor = ""
    _pixels(ds, data)
    return ds


def write_dicom(folder: Path, images: Sequence[ReleasedImage], release: str) -> Path:
    """``dicom/<isic_id>.dcm`` for every released image."""
    out = folder / DICOM_DIR
    out.mkdir()
    for img in images:
        data = (folder / "images" / img.filename).read_bytes()
        dicom_dataset(img, data, release).save_as(
            out / f"{img.isic_id}.dcm", enforce_file_format=True
        )
    return out
