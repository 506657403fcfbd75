"""Attributes kept although Table E.1-1 does not list them.

fastct removes every attribute whose status is unknown: an attribute that
Table E.1-1 does not list is kept only when it is named here. The list holds
what an image needs to be read, placed and shown correctly (pixel module,
geometry, rescale and LUTs, acquisition parameters, multi-frame functional
groups, the coded-entry macro) and the Type 1/2 attributes of the common image
IODs that carry no identity (Modality, Manufacturer, Series Number ...).
None of them is free text written by a person at the site.

Besides the named attributes, a standard attribute that the table does not
list is kept when its VR cannot carry a name or free text (``SAFE_VRS``:
numbers, coded strings, attribute tags, UIDs, and sequences, whose items are
cleaned by the same rules). An attribute missing from the data dictionary,
or holding text, a date, a time or bytes, is removed unless named here.

UID-valued attributes kept this way keep their value when it names a kind of
thing (a SOP class, a transfer syntax, a coding scheme: keywords ending in
``ClassUID``) or is a UID defined by the standard; any other value is
replaced like an instance UID (see ``_core``).

Private attributes are not named here: the Retain Safe Private Option keeps
those that PS3.15 Table E.3.10-1 lists, for their private creator only
(``ps3_15_e3_10_1.csv``, read by ``_table.safe_private``).
"""

from __future__ import annotations

__all__ = ["KEEP", "SAFE_VRS", "STRUCTURED_TEXT"]

KEEP = frozenset(
    {
        # SOP common, identification of the object's kind
        "SpecificCharacterSet", "ImageType", "SOPClassUID", "Modality", "ConversionType",
        "InstanceNumber", "SeriesNumber", "AcquisitionNumber", "ImagesInAcquisition",
        "Laterality", "ImageLaterality", "PatientPosition", "BodyPartExamined", "ViewPosition",
        "PositionReferenceIndicator", "PatientOrientation", "AnatomicRegionSequence",
        "Manufacturer", "ManufacturerModelName", "SoftwareVersions", "BurnedInAnnotation", "RecognizableVisualFeatures",
        "PatientIdentityRemoved", "DeidentificationMethod", "DeidentificationMethodCodeSequence",
        "LongitudinalTemporalInformationModified", "QualityControlImage", "PresentationIntentType",
        "SynchronizationTrigger", "AcquisitionTimeSynchronized",
        # image pixel module
        "SamplesPerPixel", "PhotometricInterpretation", "Rows", "Columns", "BitsAllocated",
        "BitsStored", "HighBit", "PixelRepresentation", "PlanarConfiguration", "PixelData",
        "FloatPixelData", "DoubleFloatPixelData", "NumberOfFrames", "FrameIncrementPointer",
        "PixelAspectRatio", "SmallestImagePixelValue", "LargestImagePixelValue",
        "PixelPaddingValue", "PixelPaddingRangeLimit", "ExtendedOffsetTable",
        "ExtendedOffsetTableLengths", "ICCProfile", "ColorSpace", "PixelSpacingCalibrationType",
        "RedPaletteColorLookupTableDescriptor", "GreenPaletteColorLookupTableDescriptor",
        "BluePaletteColorLookupTableDescriptor", "RedPaletteColorLookupTableData",
        "GreenPaletteColorLookupTableData", "BluePaletteColorLookupTableData",
        "SegmentedRedPaletteColorLookupTableData", "SegmentedGreenPaletteColorLookupTableData",
        "SegmentedBluePaletteColorLookupTableData", "LossyImageCompression",
        "LossyImageCompressionRatio", "LossyImageCompressionMethod", "PresentationLUTShape",
        # geometry
        "PixelSpacing", "ImagerPixelSpacing", "NominalScannedPixelSpacing", "ImageOrientationPatient",
        "ImagePositionPatient", "SliceThickness", "SliceLocation", "SpacingBetweenSlices",
        "FrameOfReferenceUID", "TableHeight", "GantryDetectorTilt", "EstimatedRadiographicMagnificationFactor",
        # rescale, windows, LUTs
        "RescaleIntercept", "RescaleSlope", "RescaleType", "WindowCenter", "WindowWidth",
        "VOILUTFunction", "VOILUTSequence", "ModalityLUTSequence", "ModalityLUTType",
        "LUTDescriptor", "LUTData", "RealWorldValueMappingSequence", "RealWorldValueFirstValueMapped",
        "RealWorldValueLastValueMapped", "RealWorldValueIntercept", "RealWorldValueSlope",
        "MeasurementUnitsCodeSequence", "DoubleFloatRealWorldValueFirstValueMapped",
        "DoubleFloatRealWorldValueLastValueMapped",
        # CT acquisition and reconstruction
        "KVP", "ScanOptions", "DataCollectionDiameter", "ReconstructionDiameter",
        "DistanceSourceToDetector", "DistanceSourceToPatient", "RotationDirection", "ExposureTime",
        "XRayTubeCurrent", "Exposure", "ExposureInuAs", "FilterType", "GeneratorPower", "FocalSpots",
        "ConvolutionKernel", "RevolutionTime", "SingleCollimationWidth", "TotalCollimationWidth",
        "TableSpeed", "TableFeedPerRotation", "SpiralPitchFactor", "CTDIvol", "CTDIPhantomTypeCodeSequence",
        "ReconstructionTargetCenterPatient", "DataCollectionCenterPatient", "ExposureModulationType",
        "ContrastBolusRoute", "ContrastBolusVolume", "ContrastBolusTotalDose", "ContrastBolusIngredient",
        "ContrastBolusIngredientConcentration", "ContrastBolusAgentSequence",
        "ReconstructionAlgorithm", "ReconstructionFieldOfView", "ReconstructionPixelSpacing",
        # MR acquisition
        "ScanningSequence", "SequenceVariant", "PulseSequenceName", "MRAcquisitionType", "SequenceName", "AngioFlag",
        "RepetitionTime", "EchoTime", "InversionTime", "NumberOfAverages", "ImagingFrequency",
        "ImagedNucleus", "EchoNumbers", "MagneticFieldStrength", "NumberOfPhaseEncodingSteps",
        "EchoTrainLength", "PercentSampling", "PercentPhaseFieldOfView", "PixelBandwidth",
        "AcquisitionMatrix", "InPlanePhaseEncodingDirection", "FlipAngle", "VariableFlipAngleFlag",
        "SAR", "dBdt", "TriggerTime", "HeartRate", "CardiacNumberOfImages", "TriggerWindow",
        "DiffusionBValue", "DiffusionGradientOrientation",
        # X-ray, ultrasound and secondary-capture essentials
        "FieldOfViewShape", "FieldOfViewDimensions",
        "SequenceOfUltrasoundRegions", "RegionSpatialFormat", "RegionDataType", "RegionFlags",
        "RegionLocationMinX0", "RegionLocationMinY0", "RegionLocationMaxX1", "RegionLocationMaxY1",
        "PhysicalUnitsXDirection", "PhysicalUnitsYDirection", "PhysicalDeltaX", "PhysicalDeltaY",
        "ReferencePixelX0", "ReferencePixelY0", "FrameTime", "FrameTimeVector", "CineRate",
        "RecommendedDisplayFrameRate", "StartTrim", "StopTrim", "PreferredPlaybackSequencing",
        "DetectorType", "PositionerType", "Grid", "DistanceSourceToEntrance",
        # multi-frame functional groups and dimensions
        "SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence", "PixelMeasuresSequence",
        "PlanePositionSequence", "PlaneOrientationSequence", "FrameContentSequence",
        "PixelValueTransformationSequence", "FrameVOILUTSequence", "CTImageFrameTypeSequence",
        "MRImageFrameTypeSequence", "FrameType", "FrameAcquisitionNumber", "FrameAcquisitionDuration",
        "StackID", "InStackPositionNumber", "DimensionIndexValues", "TemporalPositionIndex",
        "DimensionOrganizationSequence", "DimensionIndexSequence", "DimensionIndexPointer",
        "FunctionalGroupPointer", "DimensionOrganizationType", "CTAcquisitionTypeSequence",
        "CTAcquisitionDetailsSequence", "CTTableDynamicsSequence", "CTPositionSequence",
        "CTGeometrySequence", "CTReconstructionSequence", "CTExposureSequence",
        "CTXRayDetailsSequence", "AcquisitionType", "TubeAngle", "ConstantVolumeFlag",
        "FluoroscopyFlag", "ContentQualification", "PixelPresentation", "VolumetricProperties",
        "VolumeBasedCalculationTechnique", "ReferencedSOPClassUID", "TemporalPositionIdentifier",
        "NumberOfTemporalPositions",
        # coded entries (Code Sequence macro) and SR content items
        "CodeValue", "CodingSchemeDesignator", "CodingSchemeVersion", "CodeMeaning",
        "LongCodeValue", "URNCodeValue", "ContextIdentifier", "MappingResource",
        "ConceptNameCodeSequence", "ConceptCodeSequence", "ValueType", "RelationshipType",
        "MeasuredValueSequence", "NumericValue", "FloatingPointValue", "DerivationCodeSequence",
        "PurposeOfReferenceCodeSequence", "ProcedureCodeSequence",
        "ContinuityOfContent", "ReferencedFrameNumber", "ReferencedSegmentNumber",
        "ReferencedContentItemIdentifier",
        # references whose items hold only UIDs and numbers
        "ReferencedSeriesSequence", "ReferencedInstanceSequence", "ReferencedSOPSequence",
        "StudiesContainingOtherReferencedInstancesSequence",
    }
)

#: VRs of unlisted standard attributes kept (values checked as described above).
SAFE_VRS = frozenset({"US", "SS", "UL", "SL", "FL", "FD", "DS", "IS", "UV", "SV", "AT", "CS", "UI", "SQ"})

#: Free text of structured content items: removed, or scrubbed of the
#: object's identifying values under the Clean Structured Content Option.
STRUCTURED_TEXT = frozenset({"TextValue"})
